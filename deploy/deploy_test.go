// Package deploy holds no code: its tests check the Prometheus rules (with
// the real promtool) and the Kubernetes manifests.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/internal/pki"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/report"
	"github.com/etcdaudit/etcdaudit/results"
	"github.com/etcdaudit/etcdaudit/service"
)

// tool finds a binary the tests run for real; missing, it skips locally
// and fails under CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (make deps)", name)
		}
		t.Skipf("%s not installed (make deps)", name)
	}
	return p
}

func TestPromtoolCheckAndTestRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "etcdaudit-rules.yaml"},
		{"test", "rules", "etcdaudit-rules.test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Every alert the issue asks for exists and is unit-tested, and every
// metric the rules read is one etcdaudit really exposes (the prometheus
// reporter or serve): a renamed gauge would otherwise silence an alert.
func TestRulesCoverAlertsAndRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("prometheus/etcdaudit-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/etcdaudit-rules.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	metricRE := regexp.MustCompile(`etcdaudit_[a-z0-9_]+`)
	used := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a severity label, a summary and a description", r.Alert)
			}
			if !bytes.Contains(tests, []byte("alertname: "+r.Alert+"\n")) {
				t.Errorf("%s has no unit test in etcdaudit-rules.test.yaml", r.Alert)
			}
			for _, m := range metricRE.FindAllString(r.Expr, -1) {
				used[m] = true
			}
		}
	}
	for _, want := range []string{"EtcdauditControlNewlyFailing", "EtcdauditScanStale", "EtcdauditEventsLeaseCoverageLow",
		"EtcdauditV2DataPresent", "EtcdauditMemberVersionDrift"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing", want)
		}
	}

	exposed := exposedMetrics(t)
	var missing []string
	for m := range used {
		if !exposed[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the rules read metrics etcdaudit does not expose: %v", missing)
	}
}

// exposedMetrics gathers the metric names of a real serve /metrics after
// one scan; it includes every prometheus-reporter gauge.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scan := func(context.Context) (*results.Report, error) {
		return historytest.Report(historytest.Spec{Clusters: 2}), nil
	}
	// With --remediate, a waiting plan and an auto-disabled cluster in the
	// state dir, so every remediation series is exposed.
	dir := t.TempDir()
	state := `{"plans": [{"id": "p1", "cluster": "c1", "actions": ["upgrade"], "status": "waiting", "created": "2026-01-01T00:00:00Z"}],
		"auto_disabled": {"c1": {"since": "2026-01-01T00:00:00Z", "reason": "run failed"}}}`
	if err := os.WriteFile(filepath.Join(dir, service.StateFileName), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := service.New(ctx, service.Config{Scan: scan, StateDir: dir, Remediate: noPlans{}})
	if err != nil {
		t.Fatal(err)
	}
	rep := historytest.Report(historytest.Spec{Clusters: 2})
	if _, _, err := s.Store().Put(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var prom bytes.Buffer
	if err := report.Render(&prom, "prometheus", rep, report.Options{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	// Without Serve no snapshot is loaded: the reporter's text gives the
	// scan gauges, the handler serve's own series.
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := map[string]bool{}
	for _, text := range [][]byte{prom.Bytes(), body} {
		for _, line := range strings.Split(string(text), "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				out[strings.Fields(name)[0]] = true
			}
		}
	}
	if !out["etcdaudit_control_status"] || !out["etcdaudit_scans_total"] {
		t.Fatalf("gathered too little: %v", out)
	}
	return out
}

// noPlans is a Remediator that never plans.
type noPlans struct{}

func (noPlans) Plan(context.Context, *results.Report) (*remediate.Plan, error) { return nil, nil }
func (noPlans) Engine(context.Context) (*remediate.Engine, error) {
	return nil, errors.New("no engine in this test")
}

// manifest is one Kubernetes object, decoded loosely.
type manifest map[string]any

func (m manifest) get(path ...string) any {
	var cur any = map[string]any(m)
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func (m manifest) str(path ...string) string { s, _ := m.get(path...).(string); return s }

func loadManifests(t *testing.T) map[string][]manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]manifest{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var raw map[string]any // nested maps then decode as map[string]any too
			err := dec.Decode(&raw)
			m := manifest(raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m == nil {
				continue
			}
			for _, field := range []string{"apiVersion", "kind"} {
				if m.str(field) == "" {
					t.Fatalf("%s: object without %s", f, field)
				}
			}
			if m.str("metadata", "name") == "" {
				t.Fatalf("%s: %s without metadata.name", f, m.str("kind"))
			}
			out[f] = append(out[f], m)
		}
	}
	return out
}

func kinds(ms []manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.str("kind"))
	}
	sort.Strings(out)
	return out
}

func TestKubernetesManifests(t *testing.T) {
	all := loadManifests(t)
	want := map[string][]string{
		"kubernetes/common.yaml":              {"ConfigMap", "Namespace", "ServiceAccount"},
		"kubernetes/serve.yaml":               {"Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service"},
		"kubernetes/cronjob-textfile.yaml":    {"CronJob", "PersistentVolumeClaim"},
		"kubernetes/cronjob-pushgateway.yaml": {"CronJob", "PersistentVolumeClaim"},
	}
	for f, k := range want {
		if got := kinds(all[f]); strings.Join(got, ",") != strings.Join(k, ",") {
			t.Errorf("%s kinds %v, want %v", f, got, k)
		}
	}
	defined := map[string]bool{} // kind/name of everything the manifests create
	for _, ms := range all {
		for _, m := range ms {
			defined[m.str("kind")+"/"+m.str("metadata", "name")] = true
			if m.str("kind") != "Namespace" && m.str("metadata", "namespace") != "etcdaudit" {
				t.Errorf("%s %s: not in namespace etcdaudit", m.str("kind"), m.str("metadata", "name"))
			}
		}
	}
	// Secrets are referred to, never defined: they hold credentials.
	secrets := map[string]bool{"etcdaudit-etcd-client": true, "etcdaudit-etcd-auth": true, "etcdaudit-api-token": true}
	for f, ms := range all {
		for _, m := range ms {
			switch m.str("kind") {
			case "Secret":
				t.Errorf("%s defines a Secret: credentials do not belong in the repo", f)
			case "Deployment":
				checkDeployment(t, f, m, all[f])
				checkPod(t, f, m.get("spec", "template", "spec").(map[string]any), defined, secrets)
			case "CronJob":
				checkCronJob(t, f, m)
				checkPod(t, f, m.get("spec", "jobTemplate", "spec", "template", "spec").(map[string]any), defined, secrets)
			}
		}
	}
}

func checkDeployment(t *testing.T, f string, d manifest, same []manifest) {
	if n, _ := d.get("spec", "replicas").(int); n != 1 {
		t.Errorf("%s: serve must run one replica (the history file lock), got %v", f, d.get("spec", "replicas"))
	}
	if d.str("spec", "strategy", "type") != "Recreate" {
		t.Errorf("%s: a rolling update would start a second pod on the locked history", f)
	}
	sel, _ := d.get("spec", "selector", "matchLabels").(map[string]any)
	labels, _ := d.get("spec", "template", "metadata", "labels").(map[string]any)
	if len(sel) == 0 || !subset(sel, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", f, sel, labels)
	}
	c := d.get("spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	args := strs(c["args"])
	if args[0] != "serve" || !slices.Contains(args, "--listen=0.0.0.0:9477") {
		t.Errorf("%s: args %v", f, args)
	}
	probes := map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
	for p, path := range probes {
		if got := manifest(c).str(p, "httpGet", "path"); got != path {
			t.Errorf("%s: %s path %q, want %s", f, p, got, path)
		}
	}
	for _, m := range same {
		if m.str("kind") != "Service" {
			continue
		}
		ssel, _ := m.get("spec", "selector").(map[string]any)
		if !subset(ssel, labels) {
			t.Errorf("%s: Service selector %v matches no serve pod", f, ssel)
		}
		port := m.get("spec", "ports").([]any)[0].(map[string]any)
		if port["targetPort"] != "http" || port["port"] != 9477 {
			t.Errorf("%s: Service port %v", f, port)
		}
	}
}

func checkCronJob(t *testing.T, f string, cj manifest) {
	if _, err := cron.ParseStandard(cj.str("spec", "schedule")); err != nil {
		t.Errorf("%s: schedule: %v", f, err)
	}
	if cj.str("spec", "concurrencyPolicy") != "Forbid" {
		t.Errorf("%s: two scans must never overlap (concurrencyPolicy: Forbid)", f)
	}
	pod := manifest(cj.get("spec", "jobTemplate", "spec", "template", "spec").(map[string]any))
	if pod.str("restartPolicy") != "Never" {
		t.Errorf("%s: podFailurePolicy needs restartPolicy Never", f)
	}
	rules, _ := cj.get("spec", "jobTemplate", "spec", "podFailurePolicy", "rules").([]any)
	if len(rules) == 0 || !strings.Contains(yamlString(t, rules), "100") {
		t.Errorf("%s: exit 100 (findings) must not be retried", f)
	}
	c := pod.get("containers").([]any)[0].(map[string]any)
	args := strs(c["args"])
	if args[0] != "scan" || !slices.Contains(args, "--state-dir=/var/lib/etcdaudit") {
		t.Errorf("%s: args %v", f, args)
	}
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--report=prometheus:") && !strings.Contains(joined, "--pushgateway=") {
		t.Errorf("%s: neither a textfile nor a Pushgateway", f)
	}
}

// checkPod: non-root, read-only root, every volume's ConfigMap, PVC or
// Secret either defined here or one of the documented Secrets, and the
// inventory path the args name is mounted.
func checkPod(t *testing.T, f string, spec map[string]any, defined, secrets map[string]bool) {
	pod := manifest(spec)
	if pod.get("securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod must run as non-root", f)
	}
	if pod.get("automountServiceAccountToken") != false {
		t.Errorf("%s: etcdaudit needs no Kubernetes API token", f)
	}
	c := manifest(pod.get("containers").([]any)[0].(map[string]any))
	if c.get("securityContext", "readOnlyRootFilesystem") != true || c.get("securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("%s: container securityContext too loose", f)
	}
	if c.str("image") == "" {
		t.Errorf("%s: no image", f)
	}
	mounts := map[string]string{}
	for _, m := range c.get("volumeMounts").([]any) {
		mm := m.(map[string]any)
		mounts[mm["name"].(string)] = mm["mountPath"].(string)
	}
	for _, v := range pod.get("volumes").([]any) {
		vol := manifest(v.(map[string]any))
		name := vol.str("name")
		if mounts[name] == "" {
			t.Errorf("%s: volume %s is not mounted", f, name)
		}
		if claim := vol.str("persistentVolumeClaim", "claimName"); claim != "" && !defined["PersistentVolumeClaim/"+claim] {
			t.Errorf("%s: PVC %s not defined", f, claim)
		}
		srcs, _ := vol.get("projected", "sources").([]any)
		for _, s := range srcs {
			src := manifest(s.(map[string]any))
			if n := src.str("configMap", "name"); n != "" && !defined["ConfigMap/"+n] {
				t.Errorf("%s: ConfigMap %s not defined", f, n)
			}
			if n := src.str("secret", "name"); n != "" && !secrets[n] {
				t.Errorf("%s: Secret %s is not one common.yaml documents", f, n)
			}
		}
	}
	for _, a := range strs(c.get("args")) {
		for _, flag := range []string{"-f=", "--token-file=", "--state-dir="} {
			if p, ok := strings.CutPrefix(a, flag); ok && !underAny(p, mounts) {
				t.Errorf("%s: %s%s is on no mounted volume", f, flag, p)
			}
		}
	}
}

// The inventory shipped in the ConfigMap is valid, with the Secrets'
// files where the projected volume puts them.
func TestConfigMapInventoryValidates(t *testing.T) {
	var cm manifest
	for _, m := range loadManifests(t)["kubernetes/common.yaml"] {
		if m.str("kind") == "ConfigMap" {
			cm = m
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(cm.str("data", "fleet.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	certs, err := pki.Generate(filepath.Join(dir, "gen"), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{certs.CA: "tls/ca.crt", certs.ClientCert: "tls/tls.crt", certs.ClientKey: "tls/tls.key"} {
		b, _ := os.ReadFile(src)
		_ = os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll(filepath.Join(dir, "auth"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "auth/password"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet, err := inventory.Load(filepath.Join(dir, "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Clusters) != 2 {
		t.Fatalf("%d clusters", len(fleet.Clusters))
	}
}

func underAny(p string, mounts map[string]string) bool {
	for _, m := range mounts {
		if p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/") {
			return true
		}
	}
	return false
}

func subset(a, b map[string]any) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

func yamlString(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The image runs as the uid the manifests expect and builds the CLI the
// manifests call. (Building the image itself needs a Docker daemon, which
// the test machines lack.)
func TestDockerfileMatchesManifests(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{"USER 65532:65532", "./cmd/etcdaudit", `ENTRYPOINT ["/usr/local/bin/etcdaudit"]`, "CGO_ENABLED=0"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat("../cmd/etcdaudit/main.go"); err != nil {
		t.Fatal(err)
	}
	for f, ms := range loadManifests(t) {
		for _, m := range ms {
			var pod any
			switch m.str("kind") {
			case "Deployment":
				pod = m.get("spec", "template", "spec")
			case "CronJob":
				pod = m.get("spec", "jobTemplate", "spec", "template", "spec")
			default:
				continue
			}
			p := manifest(pod.(map[string]any))
			if p.get("securityContext", "runAsUser") != 65532 {
				t.Errorf("%s: runAsUser %v, the image's user is 65532", f, p.get("securityContext", "runAsUser"))
			}
			c := manifest(p.get("containers").([]any)[0].(map[string]any))
			if !strings.HasPrefix(c.str("image"), "ghcr.io/etcdaudit/etcdaudit:") {
				t.Errorf("%s: image %q is not the one deploy/Dockerfile builds", f, c.str("image"))
			}
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
	"github.com/etcdaudit/etcdaudit/service"
)

const serveToken = "s3rve-t0ken"

// remCluster is one cluster of a serve --remediate test fleet.
type remCluster struct {
	name, tier string
	h          *hoststub.Host
}

// remFleet writes the fleet file: every cluster with its tier, its host
// stand-in's hooks, and a maintenance window open from an hour ago to an
// hour from now (UTC).
func remFleet(t *testing.T, dir string, cs ...remCluster) string {
	t.Helper()
	now := time.Now().UTC()
	window := now.Add(-time.Hour).Format("15:04") + "-" + now.Add(time.Hour).Format("15:04")
	var clusters []any
	for _, c := range cs {
		clusters = append(clusters, map[string]any{"name": c.name, "endpoints": c.h.Cluster.Endpoints(), "hooks": c.h.Hooks(t),
			"labels": map[string]string{"tier": c.tier, "maintenance-window": window}})
	}
	b, err := yaml.Marshal(map[string]any{"name": "serve-remediate", "clusters": clusters})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "fleet.yaml", string(b))
}

// remData is the baseline these tests judge against: target 3.6.16.
const remData = "baseline:\n  target: \"3.6.16\"\n"

// serveProc is a running `etcdaudit serve` process.
type serveProc struct {
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func (p *serveProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startServe starts serve and waits until it listens.
func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-level", "info"}, args...)...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("serve log:\n%s", p.logs())
		}
	})
	addr := make(chan string, 1)
	addrRE := regexp.MustCompile(`msg=serving addr=(\S+)`)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.done:
		t.Fatalf("serve exited:\n%s", p.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start listening:\n%s", p.logs())
	}
	return p
}

type plansAnswer struct {
	Plans        []service.PlanRecord            `json:"plans"`
	AutoDisabled map[string]service.AutoDisabled `json:"auto_disabled"`
}

func getPlans(t *testing.T, base string) plansAnswer {
	t.Helper()
	resp, err := http.Get(base + "/api/plans")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out plansAnswer
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/plans: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// planOf returns the newest plan of cluster.
func (a plansAnswer) planOf(cluster string) *service.PlanRecord {
	for i := range a.Plans {
		if a.Plans[i].Cluster == cluster {
			return &a.Plans[i]
		}
	}
	return nil
}

// waitPlans polls /api/plans until ok holds.
func waitPlans(t *testing.T, p *serveProc, within time.Duration, what string, ok func(plansAnswer) bool) plansAnswer {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		a := getPlans(t, p.base)
		if ok(a) {
			return a
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(a, "", "  ")
			t.Fatalf("%s: not within %s; plans:\n%s", what, within, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// putEvents writes n events keys without a lease (ETCD-K8S-004 fails).
func putEvents(t *testing.T, cli *clientv3.Client, n int) {
	t.Helper()
	for i := range n {
		if _, err := cli.Put(t.Context(), fmt.Sprintf("/registry/events/ns-%d/pod-%03d.%x", i%3, i, i*7919), fmt.Sprintf(`{"kind":"Event","count":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// serveRemediateArgs are the flags of every serve --remediate test.
func serveRemediateArgs(t *testing.T, dir, fleet, state, gate string) []string {
	tok := writeFile(t, dir, "token", serveToken+"\n")
	data := writeFile(t, dir, "data.yaml", remData)
	args := []string{"-f", fleet, "--state-dir", state, "--token-file", tok, "--schedule", "", "--data", data, "--remediate"}
	if gate != "" {
		args = append(args, "--gate", gate)
	}
	return args
}

func latestResults(t *testing.T, base string) []results.Result {
	t.Helper()
	var rep struct {
		Results []results.Result `json:"results"`
	}
	if err := json.Unmarshal([]byte(getBody(t, base+"/api/scans/latest")), &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Results
}

// TestServeRemediateFleet: serve --remediate with the example gate on three
// real clusters driven through the host stand-in's hooks. The small one
// (3.6.16, unleased events) is fixed by an auto run right after the first
// scan; the medium one (3.5.35, below the 3.6.16 target) waits for
// approval, is approved over the API and upgraded; the large one (3.5.35)
// is denied and untouched, with the reason on the page. The next scan
// passes ETCD-K8S-004 on the small one and the version controls on the
// medium one.
func TestServeRemediateFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdaudit and starts real etcd clusters")
	}
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	small := hoststub.Start(t, etcdtest.WithVersion("3.6"))
	medium := hoststub.Start(t, etcdtest.WithVersion("3.5"))
	large := hoststub.Start(t, etcdtest.WithVersion("3.5"))
	cli := small.Cluster.Client(t)
	putEvents(t, cli, 60)
	if _, err := medium.Cluster.Client(t).Put(t.Context(), "/registry/pods/default/p0", "pod"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fleet := remFleet(t, dir, remCluster{"small", "small", small}, remCluster{"medium", "medium", medium}, remCluster{"large", "large", large})
	state := filepath.Join(dir, "state")
	bin := buildBinary(t)
	srv := startServe(t, bin, serveRemediateArgs(t, dir, fleet, state, "../../examples/gate/serve-gate.rego")...)

	// The startup scan, then the pass after it: auto runs at once.
	a := waitPlans(t, srv, 2*time.Minute, "small fixed, medium waiting, large denied", func(a plansAnswer) bool {
		s, m, l := a.planOf("small"), a.planOf("medium"), a.planOf("large")
		return s != nil && s.Status == service.PlanDone && m != nil && m.Status == service.PlanWaiting && l != nil && l.Status == service.PlanDenied
	})
	s, m, l := a.planOf("small"), a.planOf("medium"), a.planOf("large")
	if s.Decision != "auto" || !strings.Contains(s.Reason, "inside its maintenance window") || strings.Join(s.Actions, ",") != "attach-event-leases" {
		t.Errorf("small plan: %+v", s)
	}
	if m.Decision != "approve" || !strings.Contains(m.Reason, "upgrade changes etcd's binaries or data layout: a person approves it") ||
		!strings.Contains(m.Text, "member-upgrade") || !strings.Contains(m.Text, "3.5.35 -> 3.6.16") {
		t.Errorf("medium plan: %+v", m)
	}
	if l.Decision != "deny" || !strings.Contains(l.Reason, "tier large: large is not remediated without a person") {
		t.Errorf("large plan: %+v", l)
	}
	resp, err := cli.Get(t.Context(), "/registry/events/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			t.Errorf("%s has no lease after the auto run", kv.Key)
		}
	}
	page := getBody(t, srv.base+"/")
	for _, want := range []string{"1 plan waiting for approval", m.ID, "tier large: large is not remediated without a person", "/api/plans/" + m.ID + "/approve"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	screenshot(t, srv.base, "serve-plans-waiting.png")

	// Approval: the token and a name are required.
	if code, body := post(t, srv.base+"/api/plans/"+m.ID+"/approve", "", `{"approver":"alice"}`); code != http.StatusUnauthorized {
		t.Errorf("approve without a token: %d %s", code, body)
	}
	if code, body := post(t, srv.base+"/api/plans/"+m.ID+"/approve", serveToken, `{}`); code != http.StatusBadRequest {
		t.Errorf("approve without a name: %d %s", code, body)
	}
	if code, body := post(t, srv.base+"/api/plans/"+m.ID+"/approve", serveToken, `{"approver":"alice","reason":"change 42"}`); code != http.StatusAccepted {
		t.Fatalf("approve: %d %s", code, body)
	}
	a = waitPlans(t, srv, 3*time.Minute, "medium upgraded", func(a plansAnswer) bool {
		p := a.planOf("medium")
		return p != nil && p.Status != service.PlanApproved && p.Status != service.PlanRunning
	})
	if p := a.planOf("medium"); p.Status != service.PlanDone || p.Approver != "alice" || p.RunID == "" {
		t.Fatalf("medium after approval: %+v", p)
	}
	j, err := journal.OpenReadOnly(state)
	if err != nil {
		t.Fatal(err)
	}
	run, err := j.Run(a.planOf("medium").RunID)
	if err != nil || run.Approver != "alice" || run.Status != journal.RunDone {
		t.Errorf("journal run of medium: %+v %v", run, err)
	}

	// The next scan passes what was fixed; the large cluster was not touched.
	if code, body := post(t, srv.base+"/api/scans?wait=true", serveToken, ""); code != http.StatusOK {
		t.Fatalf("scan: %d %s", code, body)
	}
	checked := 0
	for _, r := range latestResults(t, srv.base) {
		switch {
		case r.Cluster == "small" && r.Control == "ETCD-K8S-004",
			r.Cluster == "medium" && strings.HasPrefix(r.Control, "ETCD-VER"):
			checked++
			if r.Status != results.Passed {
				t.Errorf("after remediation %s on %s is %s: %v", r.Control, r.Cluster, r.Status, r.Messages)
			}
		}
	}
	if checked < 2 {
		t.Errorf("only %d results checked in the last scan", checked)
	}
	if ops := large.Ops(); len(ops) != 0 {
		t.Errorf("the large cluster's host was called: %v", ops)
	}
	if v := large.Cluster.Members[0].Version(); !strings.HasPrefix(v, "3.5") {
		t.Errorf("large runs %s", v)
	}
	// The drift since the scan before names the upgrade run beside the
	// version changes it made, as `etcdaudit drift` does.
	var d history.Drift
	if err := json.Unmarshal([]byte(getBody(t, srv.base+"/api/drift?format=json")), &d); err != nil {
		t.Fatal(err)
	}
	explained := 0
	for _, r := range d.Remediation {
		if r.ID == run.ID {
			explained = r.Changes
		}
	}
	if explained == 0 {
		t.Errorf("the service's drift names no change of run %s: %+v", run.ID, d.Remediation)
	}
	metrics := getBody(t, srv.base+"/metrics")
	for _, want := range []string{
		`etcdaudit_remediation_runs_total{action="attach-event-leases",outcome="success"} 1`,
		`etcdaudit_remediation_runs_total{action="upgrade",outcome="success"} 1`,
		`etcdaudit_remediation_plans_waiting 0`,
		`etcdaudit_remediation_auto_disabled_clusters 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	screenshot(t, srv.base, "serve-plans-approved.png")
}

// screenshot saves the service page as PNG into $ETCDAUDIT_SCREENSHOT_DIR
// with headless Chromium, when that is set (docs/img is made this way).
func screenshot(t *testing.T, base, name string) {
	t.Helper()
	dir := os.Getenv("ETCDAUDIT_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--window-size=1100,1000", "--screenshot="+filepath.Join(dir, name), base+"/")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
}

// TestServeRemediateKilledMidRun: serve killed with -9 while its auto run
// waits in the verify hook. At the next start the run is resumed from the
// journal (not started again: one run, done), the events are leased, and a
// second serve on the same state dir refuses to start.
func TestServeRemediateKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdaudit and starts a real etcd")
	}
	etcdtest.RequireVersion(t, "3.6")
	small := hoststub.Start(t, etcdtest.WithVersion("3.6"))
	cli := small.Cluster.Client(t)
	putEvents(t, cli, 40)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	small.SetProbe(func(ctx context.Context, _ string) error {
		first := false
		once.Do(func() { first = true })
		if first {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	dir := t.TempDir()
	fleet := remFleet(t, dir, remCluster{"small", "small", small})
	state := filepath.Join(dir, "state")
	bin := buildBinary(t)
	args := serveRemediateArgs(t, dir, fleet, state, "../../examples/gate/serve-gate.rego")
	first := startServe(t, bin, args...)
	select {
	case <-entered:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the auto run never reached its verify hook:\n%s", first.logs())
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	close(release)

	second := startServe(t, bin, args...)
	a := waitPlans(t, second, 2*time.Minute, "the killed run finished", func(a plansAnswer) bool {
		p := a.planOf("small")
		return p != nil && p.Status != service.PlanRunning
	})
	p := a.planOf("small")
	if p.Status != service.PlanDone || p.RunID != "serve-"+p.ID {
		t.Fatalf("plan after the restart: %+v", p)
	}
	if !strings.Contains(second.logs(), "resuming the run serve was in when it stopped") {
		t.Errorf("the second serve did not resume the run")
	}
	j, err := journal.OpenReadOnly(state)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := j.Runs()
	if err != nil || len(runs) != 1 || runs[0].ID != p.RunID || runs[0].Status != journal.RunDone {
		t.Errorf("journal runs %+v %v: want the one run, done", runs, err)
	}
	resp, err := cli.Get(t.Context(), "/registry/events/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 40 {
		t.Fatalf("events after the resumed run: %v %v", resp, err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			t.Errorf("%s has no lease", kv.Key)
		}
	}

	// Two replicas on one state dir: the second refuses.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another etcdaudit serve uses the state dir") {
		t.Errorf("a second serve on the state dir: %v\n%s", err, out)
	}
}

// TestServeRemediateStaleApproval: with the bundled gate a plan waits for
// approval; the cluster then changes (its first v3 key): the approval is
// refused (409), the plan expires, and nothing runs on the host.
func TestServeRemediateStaleApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdaudit and starts a real etcd")
	}
	etcdtest.RequireVersion(t, "3.5")
	medium := hoststub.Start(t, etcdtest.WithVersion("3.5"))
	dir := t.TempDir()
	fleet := remFleet(t, dir, remCluster{"medium", "medium", medium})
	srv := startServe(t, buildBinary(t), serveRemediateArgs(t, dir, fleet, filepath.Join(dir, "state"), "")...)
	a := waitPlans(t, srv, 2*time.Minute, "a waiting plan", func(a plansAnswer) bool {
		p := a.planOf("medium")
		return p != nil && p.Status == service.PlanWaiting
	})
	p := a.planOf("medium")
	if p.Decision != "approve" || !strings.Contains(p.Reason, "a person approves") {
		t.Errorf("bundled gate: %+v", p)
	}
	if _, err := medium.Cluster.Client(t).Put(t.Context(), "/registry/pods/default/new", "pod"); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, srv.base+"/api/plans/"+p.ID+"/approve", serveToken, `{"approver":"bob"}`)
	if code != http.StatusConflict || !strings.Contains(body, "stale plan") || !strings.Contains(body, "v3 data none -\\u003e some") {
		t.Fatalf("approval of a stale plan: %d %s", code, body)
	}
	if q := getPlans(t, srv.base).planOf("medium"); q.Status != service.PlanExpired || !strings.Contains(q.StatusReason, "approval by bob refused") {
		t.Errorf("plan after the refused approval: %+v", q)
	}
	if code, body := post(t, srv.base+"/api/plans/"+p.ID+"/approve", serveToken, `{"approver":"bob"}`); code != http.StatusConflict || !strings.Contains(body, "is expired") {
		t.Errorf("approving an expired plan: %d %s", code, body)
	}
	if ops := medium.Ops(); len(ops) != 0 {
		t.Errorf("hooks ran: %v", ops)
	}
}

// TestServeRemediateFailedAutoDisables: an auto run whose verify hook fails
// halts; auto is then disabled for the cluster (API, metrics, persisted)
// until a person clears it over the API.
func TestServeRemediateFailedAutoDisables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdaudit and starts a real etcd")
	}
	etcdtest.RequireVersion(t, "3.6")
	small := hoststub.Start(t, etcdtest.WithVersion("3.6"))
	putEvents(t, small.Cluster.Client(t), 20)
	small.SetProbe(func(context.Context, string) error { return fmt.Errorf("kubelets flapping") })
	dir := t.TempDir()
	fleet := remFleet(t, dir, remCluster{"small", "small", small})
	state := filepath.Join(dir, "state")
	srv := startServe(t, buildBinary(t), serveRemediateArgs(t, dir, fleet, state, "../../examples/gate/serve-gate.rego")...)
	a := waitPlans(t, srv, 2*time.Minute, "the auto run failed", func(a plansAnswer) bool {
		p := a.planOf("small")
		return p != nil && p.Status == service.PlanFailed
	})
	if ad, ok := a.AutoDisabled["small"]; !ok || ad.RunID != a.planOf("small").RunID || !strings.Contains(ad.Reason, "kubelets flapping") {
		t.Errorf("auto disabled: %+v", a.AutoDisabled)
	}
	m := getBody(t, srv.base+"/metrics")
	for _, want := range []string{`etcdaudit_remediation_auto_disabled{cluster="small"} 1`, `etcdaudit_remediation_runs_total{action="attach-event-leases",outcome="failed"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(state, service.StateFileName)); err != nil || !strings.Contains(string(b), "kubelets flapping") {
		t.Errorf("auto disabled not persisted: %v", err)
	}
	// The next scan's plan waits for a person instead of running.
	if code, body := post(t, srv.base+"/api/scans?wait=true", serveToken, ""); code != http.StatusOK {
		t.Fatalf("scan: %d %s", code, body)
	}
	if p := getPlans(t, srv.base).planOf("small"); p.Status != service.PlanWaiting || !strings.Contains(p.Reason, "auto is disabled for small") {
		t.Errorf("plan after the failure: %+v", p)
	}
	if code, body := post(t, srv.base+"/api/clusters/small/auto", serveToken, `{"approver":"carol"}`); code != http.StatusOK {
		t.Fatalf("clear auto: %d %s", code, body)
	}
	if a := getPlans(t, srv.base); len(a.AutoDisabled) != 0 {
		t.Errorf("auto still disabled: %+v", a.AutoDisabled)
	}
}

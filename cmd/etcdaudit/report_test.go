package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/etcdaudit/etcdaudit/demo"
	"github.com/etcdaudit/etcdaudit/report"
)

const savedReport = "../../testdata/results/fleet.json"

func runReportCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestReportRerendersSavedJSON: every format from the saved fixture, files
// written, cli on stdout, and the facts kept through a JSON → JSON round trip.
func TestReportRerendersSavedJSON(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	code, stdout, stderr := runReportCLI(t, "report", "--from", savedReport, "--color", "never",
		"--report", "cli", "--report", "json:"+p("r.json"), "--report", "html:"+p("r.html"),
		"--report", "junit:"+p("r.xml"), "--report", "md:"+p("r.md"), "--report", "prometheus:"+p("r.prom"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "78 results: 16 failed, 6 error, 2 skipped, 3 waived, 51 passed") {
		t.Errorf("cli summary missing from stdout:\n%s", stdout)
	}
	for _, n := range []string{"r.json", "r.html", "r.xml", "r.md", "r.prom"} {
		st, err := os.Stat(p(n))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", n, err)
		}
		if !strings.Contains(stderr, p(n)) {
			t.Errorf("stderr does not say where %s went: %s", n, stderr)
		}
	}
	j, _ := os.ReadFile(p("r.json"))
	if !bytes.Contains(j, []byte(`"facts": {`)) {
		t.Error("re-rendered JSON dropped the facts")
	}
	code, _, stderr = runReportCLI(t, "report", "--from", p("r.json"), "--include-facts=false", "--report", "json:"+p("slim.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	slim, _ := os.ReadFile(p("slim.json"))
	if bytes.Contains(slim, []byte(`"facts"`)) {
		t.Error("--include-facts=false kept the facts")
	}
}

func TestReportExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"results do not set the exit code by default", []string{"--from", savedReport, "--report", "markdown"}, 0, ""},
		{"--exit-code mirrors scan", []string{"--from", savedReport, "--exit-code", "--report", "markdown"}, 100, ""},
		{"missing --from", []string{}, 1, "--from is required"},
		{"unreadable file", []string{"--from", filepath.Join(dir, "nope.json")}, 1, "no such file"},
		{"not a report", []string{"--from", "../../go.mod"}, 1, "not a JSON report"},
		{"unknown format", []string{"--from", savedReport, "--report", "pdf:x.pdf"}, 1, `unknown report format "pdf"`},
		{"two to stdout", []string{"--from", savedReport, "--report", "cli", "--report", "json"}, 1, "only one report can go to stdout"},
		{"bad colour", []string{"--from", savedReport, "--color", "rainbow"}, 1, "--color"},
		{"unwritable path", []string{"--from", savedReport, "--report", "html:" + filepath.Join(dir, "no", "such", "dir", "r.html")}, 1, "report html to"},
		{"bad pushgateway", []string{"--from", savedReport, "--report", "markdown", "--pushgateway", "ftp://x"}, 1, "want an http(s):// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runReportCLI(t, append([]string{"report"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.msg != "" && !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.msg)
			}
		})
	}
}

// TestReportFailedSpecDoesNotStopOthers: one unwritable path fails the run
// (exit 1, naming format and path) but the other reports are still written.
func TestReportFailedSpecDoesNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "missing", "r.xml")
	good := filepath.Join(dir, "r.md")
	code, _, stderr := runReportCLI(t, "report", "--from", savedReport, "--report", "junit:"+bad, "--report", "markdown:"+good)
	if code != 1 || !strings.Contains(stderr, "report junit to "+bad) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(good); err != nil {
		t.Fatalf("the good report was not written: %v", err)
	}
}

// TestNightlyCronJobOnALiveFleet is the "done when": the CronJob
// command line `scan -f fleet.yaml --report prometheus:<textfile dir>/etcdaudit.prom
// --report json:<dir>/<date>.json` against a live fleet (the demo's embedded
// etcd clusters), then a real node_exporter serving the gauges an alert
// would use, the JSON fitting the schema, and `report --from` re-rendering it.
func TestNightlyCronJobOnALiveFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a live fleet")
	}
	nodeExporter := "/usr/bin/prometheus-node-exporter"
	if _, err := os.Stat(nodeExporter); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing under CI=true (make deps)", nodeExporter)
		}
		t.Skipf("%s not installed", nodeExporter)
	}
	dir := t.TempDir()
	fleet, err := demo.Start(t.Context(), filepath.Join(dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	baseline := filepath.Join(dir, "baseline.yaml")
	if err := os.WriteFile(baseline, []byte(demoBaseline), 0o600); err != nil {
		t.Fatal(err)
	}
	textdir := filepath.Join(dir, "textfile")
	if err := os.Mkdir(textdir, 0o755); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, time.Now().Format("2006-01-02")+".json")
	before := time.Now()
	code, _, stderr := runReportCLI(t, "scan", "-f", fleet.Inventory, "--profile", "full", "--data", baseline,
		"--report", "prometheus:"+filepath.Join(textdir, "etcdaudit.prom"), "--report", "json:"+saved)
	if code != 100 {
		t.Fatalf("scan exit %d, want 100 (the demo's legacy clusters fail): %s", code, stderr)
	}

	// The JSON a later `report --from` reads fits the published schema.
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, path := range map[string]string{
		"https://github.com/etcdaudit/etcdaudit/schema/report.schema.json": "../../schema/report.schema.json",
		"https://github.com/etcdaudit/etcdaudit/schema/facts.schema.json":  "../../schema/facts.schema.json",
	} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := c.Compile("https://github.com/etcdaudit/etcdaudit/schema/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("scan's JSON report does not fit the schema: %v", err)
	}

	// node_exporter's textfile collector serves what an alert needs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ne := exec.Command(nodeExporter, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+textdir, "--web.listen-address="+addr)
	var neLog bytes.Buffer
	ne.Stdout, ne.Stderr = &neLog, &neLog
	if err := ne.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ne.Process.Kill(); ne.Wait() })
	var body []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node_exporter not ready: %v\n%s", err, neLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
	next:
		for _, m := range mfs[name].GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetGauge().GetValue() + m.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	if v, ok := value("etcdaudit_control_status", map[string]string{"control": "ETCD-V2-001", "cluster": "legacy", "member": "legacy-1"}); !ok || v != 1 {
		t.Errorf("legacy-1 ETCD-V2-001 = %v (present %v), want 1 (failed)", v, ok)
	}
	if v, ok := value("etcdaudit_control_status", map[string]string{"control": "ETCD-K8S-004", "cluster": "compliant"}); !ok || v != 0 {
		t.Errorf("compliant ETCD-K8S-004 = %v (present %v), want 0 (passed)", v, ok)
	}
	if v, ok := value("etcdaudit_last_scan_timestamp_seconds", nil); !ok || v < float64(before.Unix())-1 || v > float64(time.Now().Unix())+1 {
		t.Errorf("last scan timestamp %v not within the run (%v)", v, before.Unix())
	}
	if v, ok := value("etcdaudit_events_lease_coverage_ratio", map[string]string{"cluster": "half-migrated"}); !ok || v >= 1 {
		t.Errorf("half-migrated lease coverage %v (present %v), want < 1", v, ok)
	}
	if v, ok := value("etcdaudit_v2_keys", map[string]string{"cluster": "legacy"}); !ok || v <= 0 {
		t.Errorf("legacy v2 keys %v (present %v), want > 0", v, ok)
	}
	if v, ok := value("etcdaudit_cluster_members_up", map[string]string{"cluster": "compliant"}); !ok || v < 1 {
		t.Errorf("compliant members up %v (present %v)", v, ok)
	}

	// The saved JSON re-renders without the fleet.
	html := filepath.Join(dir, "report.html")
	if code, _, stderr := runReportCLI(t, "report", "--from", saved, "--report", "html:"+html); code != 0 {
		t.Fatalf("report --from exit %d: %s", code, stderr)
	}
	page, _ := os.ReadFile(html)
	for _, want := range []string{"legacy", "half-migrated", "compliant", "legacy-1"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("re-rendered HTML lacks %q", want)
		}
	}
}

func TestReportArgsParse(t *testing.T) {
	out := &reportOutputFlags{color: "ALWAYS", includeFacts: true, pushgateway: "http://pg:9091", pushJob: "nightly", pushTimeout: 3 * time.Second}
	ra := &reportArgs{from: "x.json", out: out}
	specs, opts, err := ra.parse(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || specs[0] != (report.Spec{Format: "cli"}) {
		t.Errorf("default specs %v, want cli on stdout", specs)
	}
	if opts.Color != report.ColorAlways || !opts.IncludeFacts || opts.Pushgateway != "http://pg:9091" ||
		opts.PushJob != "nightly" || opts.PushTimeout != 3*time.Second || opts.Stdout != io.Discard {
		t.Errorf("options %+v", opts)
	}
	for _, bad := range []reportOutputFlags{
		{color: "auto", pushJob: "", pushTimeout: time.Second},
		{color: "auto", pushJob: "j", pushTimeout: 0},
		{color: "sometimes", pushJob: "j", pushTimeout: time.Second},
	} {
		ra := &reportArgs{from: "x.json", out: &bad}
		if _, _, err := ra.parse(io.Discard); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

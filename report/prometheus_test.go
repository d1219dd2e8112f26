package report

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcdaudit/etcdaudit/results"
)

func parseProm(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("exposition text does not parse: %v", err)
	}
	return mfs
}

// series finds one sample by its labels (a subset match) and returns its value.
func series(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func renderProm(t *testing.T, r *results.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, "prometheus", r, Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// expectSeries are values the fixture must produce, checked in the rendered
// text and again as node_exporter and the Pushgateway serve them.
var expectSeries = []struct {
	name   string
	labels map[string]string
	value  float64
}{
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-V2-001", "cluster": "legacy-eu", "member": "etcd-0"}, StatusValueFailed},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-TLS-001", "cluster": "legacy-eu", "member": "etcd-1"}, StatusValueWaived},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-HEALTH-001", "cluster": "half-migrated-us", "member": "etcd-c"}, StatusValueError},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-K8S-001", "cluster": `lab "edge" <img src=x onerror=alert(2)>`, "member": ""}, StatusValueSkipped},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-CONS-001", "cluster": "prod-ap", "member": ""}, StatusValuePassed},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-FLEET-001", "cluster": "", "member": ""}, StatusValueFailed},
	{"etcdaudit_control_status", map[string]string{"control": "ETCD-TLS-001", "member": `m2\u001b[2J\u001b[31mFAKE PASS\nline`}, StatusValueFailed},
	{"etcdaudit_last_scan_timestamp_seconds", nil, 1795658403.214},
	{"etcdaudit_last_scan_duration_seconds", nil, 3.214},
	{"etcdaudit_cluster_members_up", map[string]string{"cluster": "half-migrated-us"}, 2},
	{"etcdaudit_member_up", map[string]string{"cluster": "half-migrated-us", "member": "etcd-c"}, 0},
	{"etcdaudit_events_lease_coverage_ratio", map[string]string{"cluster": "half-migrated-us", "prefix": "/registry/events/"}, 0.4},
	{"etcdaudit_v2_keys", map[string]string{"cluster": "legacy-eu", "member": "etcd-2"}, 1234},
	{"etcdaudit_member_version_info", map[string]string{"cluster": "prod-ap", "member": "etcd-3", "server_version": "3.6.16", "cluster_version": "3.6.0", "storage_version": "3.6.0"}, 1},
	{"etcdaudit_results", map[string]string{"status": "failed"}, 16},
	{"etcdaudit_results", map[string]string{"status": "waived"}, 3},
}

func checkExpected(t *testing.T, where string, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for _, e := range expectSeries {
		v, ok := series(t, mfs, e.name, e.labels)
		if !ok {
			t.Errorf("%s: no %s%v", where, e.name, e.labels)
			continue
		}
		if diff := v - e.value; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%s: %s%v = %v, want %v", where, e.name, e.labels, v, e.value)
		}
	}
}

func TestPrometheusTextParsesAndLints(t *testing.T) {
	r := loadFixture(t)
	text := renderProm(t, r)
	mfs := parseProm(t, text)
	checkExpected(t, "rendered text", mfs)
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// The status is the value, never a label: no family may carry a
	// "status" label except the per-status counts, which always hold all five.
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "status" && name != "etcdaudit_results" {
					t.Errorf("%s has a status label", name)
				}
			}
		}
	}
	if n := len(mfs["etcdaudit_results"].GetMetric()); n != 5 {
		t.Errorf("etcdaudit_results has %d series, want all 5 statuses", n)
	}
	if n := len(mfs["etcdaudit_control_status"].GetMetric()); n != len(r.Results) {
		t.Errorf("%d control status series for %d results", n, len(r.Results))
	}
}

// TestPrometheusSurvivesHostileReports: duplicate subjects, invalid UTF-8
// and a report without facts still give valid text, never a panic.
func TestPrometheusSurvivesHostileReports(t *testing.T) {
	r := &results.Report{
		FinishedAt: time.Unix(100, 0),
		Results: []results.Result{
			{Control: "C", Cluster: "a\xff", Member: "m", Status: results.Passed},
			{Control: "C", Cluster: "a\xfe", Member: "m", Status: results.Failed}, // same after cleaning
			{Control: "C", Cluster: "b", Member: "m", Status: "bogus"},
		},
	}
	mfs := parseProm(t, renderProm(t, r))
	if v, ok := series(t, mfs, "etcdaudit_control_status", map[string]string{"cluster": "a\uFFFD"}); !ok || v != StatusValueFailed {
		t.Errorf("duplicate subject should keep the worst status: %v %v", v, ok)
	}
	if v, _ := series(t, mfs, "etcdaudit_control_status", map[string]string{"cluster": "b"}); v != -1 {
		t.Errorf("unknown status = %v, want -1", v)
	}
}

// TestNodeExporterReadsTextfile writes the .prom file the way a CronJob
// does (WriteAll, atomic rename) and reads the series back from a real
// node_exporter's /metrics.
func TestNodeExporterReadsTextfile(t *testing.T) {
	bin := needBinary(t, "/usr/bin/prometheus-node-exporter")
	dir := t.TempDir()
	specs, err := ParseSpecs([]string{"prometheus:" + filepath.Join(dir, "etcdaudit.prom")})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(t.Context(), specs, loadFixture(t), Options{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("textfile dir holds %d entries, want only etcdaudit.prom (temp file left behind?)", len(entries))
	}
	base := startServer(t, bin, "/metrics", "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir, "--web.listen-address={addr}")
	_, body, err := httpGet(t.Context(), base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mfs := parseProm(t, body)
	checkExpected(t, "node_exporter /metrics", mfs)
	if v, ok := series(t, mfs, "node_textfile_scrape_error", nil); !ok || v != 0 {
		t.Errorf("node_textfile_scrape_error = %v (present %v), want 0", v, ok)
	}
}

// TestPushgatewayReceivesPush pushes to a real Pushgateway, reads the series
// back, then pushes a smaller report and checks the group was replaced (no
// stale series) and carries the job label but no instance value.
func TestPushgatewayReceivesPush(t *testing.T) {
	bin := needBinary(t, "/usr/bin/prometheus-pushgateway")
	base := startServer(t, bin, "/-/ready", "--web.listen-address={addr}")
	r := loadFixture(t)
	if err := WriteAll(t.Context(), nil, r, Options{Pushgateway: base, PushJob: "etcdaudit-nightly"}); err != nil {
		t.Fatal(err)
	}
	_, body, err := httpGet(t.Context(), base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mfs := parseProm(t, body)
	checkExpected(t, "pushgateway /metrics", mfs)
	if _, ok := series(t, mfs, "etcdaudit_control_status", map[string]string{"job": "etcdaudit-nightly", "instance": ""}); !ok {
		t.Error("pushed series lack job=etcdaudit-nightly or carry an instance")
	}
	if !strings.Contains(string(body), `push_time_seconds{instance="",job="etcdaudit-nightly"}`) {
		t.Error("no push_time_seconds for the group")
	}

	smaller := *r
	smaller.Results = slices.DeleteFunc(slices.Clone(r.Results), func(x results.Result) bool { return x.Cluster == "legacy-eu" })
	smaller.Summary = results.Summarize(smaller.Results)
	smaller.Facts = nil
	if err := Push(t.Context(), base, &smaller, Options{PushJob: "etcdaudit-nightly"}); err != nil {
		t.Fatal(err)
	}
	_, body, _ = httpGet(t.Context(), base+"/metrics")
	if strings.Contains(string(body), `cluster="legacy-eu"`) {
		t.Error("second push left legacy-eu series behind: the group was not replaced")
	}

	err = Push(t.Context(), "http://127.0.0.1:1", r, Options{PushTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "push to http://127.0.0.1:1") {
		t.Errorf("push to a closed port: %v", err)
	}
	err = Push(t.Context(), "http://user:s3cret@127.0.0.1:1", r, Options{PushTimeout: 2 * time.Second})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("push error leaks the password or is nil: %v", err)
	}
}

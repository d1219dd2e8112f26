package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
)

// tool finds a binary the tests run for real: missing, it skips locally and
// fails under CI=true.
func tool(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (make deps)", path)
		}
		t.Skipf("%s not installed (make deps)", path)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs a server for the test's life: killed (whole process
// group) by Cleanup, and by the kernel if the test binary dies first.
func startProcess(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log (tail):\n%s", name, tail(string(b), 3000))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// A real fleet (embedded etcd with leased and unleased events), scanned by
// serve through the real pipeline, scraped every second by a real
// Prometheus that also loads the repo's alert rules; the series are read
// back through Prometheus' HTTP API.
func TestPrometheusScrapesServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and Prometheus")
	}
	promBin := tool(t, "prometheus")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	ctx := context.Background()
	if _, err := seed.Events(ctx, c.Client(t), "/registry/events/", 30, 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	fleet, err := inventory.FromFlags(inventory.ConnFlags{Endpoints: c.Endpoints(), Name: "prom-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	scan, err := FleetScanner(ctx, FleetConfig{Fleet: fleet, Collect: collectors.Options{Profile: "full"}, Policies: policies.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Scan: scan, TokenFile: tokenFile(t, "tok")})
	if code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("scan: %d %s", code, body)
	}

	dir := t.TempDir()
	rules, _ := filepath.Abs("../deploy/prometheus/etcdaudit-rules.yaml")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: etcdaudit
    static_configs:
      - targets: [%q]
`, rules, strings.TrimPrefix(r.base, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	startProcess(t, promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1h")
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", port)

	query := func(q string) []promSample {
		resp, err := http.Get(api + "query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Result []promSample `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil || out.Status != "success" {
			return nil
		}
		return out.Data.Result
	}
	var up []promSample
	waitFor(t, 60*time.Second, func() bool {
		up = query(`etcdaudit_member_up{job="etcdaudit",cluster="prom-e2e"}`)
		return len(up) == 1
	})
	if up[0].Value[1] != "1" || up[0].Metric["member"] == "" {
		t.Fatalf("member_up: %+v", up)
	}
	cov := query(`etcdaudit_events_lease_coverage_ratio{cluster="prom-e2e"}`)
	if len(cov) != 1 || cov[0].Value[1] != "0.75" {
		t.Fatalf("lease coverage (30 of 40 leased): %+v", cov)
	}
	if got := query(`count(etcdaudit_control_status{job="etcdaudit"})`); len(got) != 1 || got[0].Value[1] == "0" {
		t.Fatalf("control status series: %+v", got)
	}
	if got := query(`etcdaudit_scans_total{outcome="success"}`); len(got) != 1 || got[0].Value[1] != "1" {
		t.Fatalf("scans_total: %+v", got)
	}
	if got := query(`etcdaudit_scan_duration_seconds_count`); len(got) != 1 || got[0].Value[1] != "1" {
		t.Fatalf("duration histogram: %+v", got)
	}
	// The repo's rules loaded and evaluate without errors against serve's
	// series; the lease coverage alert goes pending at once (for: 10m).
	waitFor(t, 30*time.Second, func() bool {
		resp, err := http.Get(api + "rules")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name   string `json:"name"`
						Health string `json:"health"`
						State  string `json:"state"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Data.Groups) != 1 {
			return false
		}
		pending := false
		for _, rl := range out.Data.Groups[0].Rules {
			if rl.Health != "ok" {
				return false
			}
			pending = pending || (rl.Name == "EtcdauditEventsLeaseCoverageLow" && rl.State == "pending")
		}
		return pending
	})
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// The trend and the drift view render in a real headless Chromium, with
// no script and nothing fetched; a screenshot is kept as an artefact.
func TestTrendRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromium := tool(t, "chromium")
	f := &fakeFleet{spec: historytest.Spec{Clusters: 4}}
	f.day.Store(5)
	r := start(t, Config{Scan: f.scan, TokenFile: tokenFile(t, "tok")})
	for i := 0; i < 6; i++ { // days 5..10: day 10 brings an upgrade and an outage
		if code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	art, _ := filepath.Abs("../testdata/artifacts/serve")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(art, "index.png")
	_ = os.Remove(shot)
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,1800"}
	run := func(extra ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append(append(base, extra...), r.base+"/")...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return string(out)
	}
	dom := run("--dump-dom")
	if n := strings.Count(dom, `class="point"`); n != 6 {
		t.Fatalf("%d trend points in the rendered DOM, want 6", n)
	}
	for _, want := range []string{`id="trend-chart"`, `id="drift-headline"`, "WORSE", "member_upgraded", "member_unreachable"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	// The report served under the service's own CSP header: its script
	// (pinned by hash) runs, as it does from a file.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(append([]string{}, base...), "--dump-dom", r.base+"/report")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	rep, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium /report: %v", err)
	}
	if !strings.Contains(string(rep), `data-ready="yes"`) {
		t.Fatalf("the served report's script did not run under the CSP header:\n%.1500s", rep)
	}
	run("--screenshot=" + shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}

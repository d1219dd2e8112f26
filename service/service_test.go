package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/internal/inputfile/inputfiletest"
	"github.com/etcdaudit/etcdaudit/results"
)

// fakeFleet scans a synthetic fleet one day further on each call; a gate,
// when set, holds each scan until released or cancelled.
type fakeFleet struct {
	day     atomic.Int32
	spec    historytest.Spec
	gate    chan struct{}
	started chan struct{}
	active  atomic.Int32
	overlap atomic.Bool
	calls   atomic.Int32
}

func (f *fakeFleet) scan(ctx context.Context) (*results.Report, error) {
	f.calls.Add(1)
	if f.active.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.active.Add(-1)
	if f.started != nil {
		select {
		case f.started <- struct{}{}:
		default:
		}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			// Like collectors.Run: partial facts come back, marked.
			rep := historytest.Report(f.spec)
			rep.Facts.Interrupted = "signal"
			return rep, nil
		}
	}
	spec := f.spec
	spec.Day = int(f.day.Add(1)) - 1
	rep := historytest.Report(spec)
	rep.ScanID = ""
	return rep, nil
}

type running struct {
	s      *Server
	base   string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{s: s, base: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, 5*time.Second, func() bool { code, _ := get(t, r.base+"/readyz"); return code == 200 })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("serve: %v", err)
		}
		close(r.done)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15s")
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 20 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func tokenFile(t *testing.T, tok string) string {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenAndOnDemandScans(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 3, Day: 0}}
	r := start(t, Config{Scan: f.scan, TokenFile: tokenFile(t, "s3cret-token")})
	for _, tok := range []string{"", "wrong", "s3cret-token-longer", "s3cret-toke"} {
		code, body, h := post(t, r.base+"/api/scans?wait=1", tok)
		if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, "s3cret") {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
	}
	if f.calls.Load() != 0 {
		t.Fatal("a refused request started a scan")
	}
	code, body, _ := post(t, r.base+"/api/scans?wait=1", "s3cret-token")
	var out scanOutcome
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Outcome != "success" || out.Entry.ID == "" {
		t.Fatalf("scan: %d %s", code, body)
	}
	// GET on the same path lists; PUT is not allowed.
	req, _ := http.NewRequest(http.MethodPut, r.base+"/api/scans", nil)
	resp, err := httpc.Do(req)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestOnDemandDisabledWithoutTokenFile(t *testing.T) {
	f := &fakeFleet{}
	r := start(t, Config{Scan: f.scan})
	if code, _, _ := post(t, r.base+"/api/scans", "anything"); code != http.StatusForbidden {
		t.Fatalf("code %d", code)
	}
	if _, err := New(context.Background(), Config{Scan: f.scan, StateDir: t.TempDir(), TokenFile: tokenFile(t, " ")}); err == nil {
		t.Fatal("empty token file accepted")
	}
}

func TestNoOverlapAnd409(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}, gate: make(chan struct{}), started: make(chan struct{}, 1)}
	r := start(t, Config{Scan: f.scan, TokenFile: tokenFile(t, "tok")})
	if code, body, _ := post(t, r.base+"/api/scans", "tok"); code != http.StatusAccepted {
		t.Fatalf("first: %d %s", code, body)
	}
	<-f.started
	if code, body, _ := post(t, r.base+"/api/scans", "tok"); code != http.StatusConflict {
		t.Fatalf("second while running: %d %s", code, body)
	}
	// The service answers while the scan runs.
	if code, body := get(t, r.base+"/api/scans"); code != 200 || !strings.Contains(body, `"running": true`) {
		t.Fatalf("list while running: %d %s", code, body)
	}
	if code, _ := get(t, r.base+"/"); code != 200 {
		t.Fatalf("index while running: %d", code)
	}
	close(f.gate)
	waitFor(t, 5*time.Second, func() bool { return !r.s.running.Load() })
	if f.overlap.Load() {
		t.Fatal("two scans overlapped")
	}
}

func TestScheduleSkipsWhileRunning(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 1}}
	slow := func(ctx context.Context) (*results.Report, error) {
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-ctx.Done():
		}
		return f.scan(ctx)
	}
	r := start(t, Config{Scan: slow, Schedule: "@every 1s"})
	waitFor(t, 20*time.Second, func() bool {
		l, _ := r.s.store.List(context.Background(), 0)
		return len(l) >= 2
	})
	if f.overlap.Load() {
		t.Fatal("scheduled scans overlapped")
	}
	_, m := get(t, r.base+"/metrics")
	if !strings.Contains(m, "etcdaudit_scans_skipped_total ") || strings.Contains(m, "etcdaudit_scans_skipped_total 0\n") {
		t.Fatalf("a 1.5 s scan every 1 s should skip some due times:\n%s", grep(m, "skipped"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestParseSchedule(t *testing.T) {
	for _, ok := range []string{"", "@every 1h", "1h30m", "0 2 * * *", "@daily", "*/15 * * * *"} {
		if _, err := parseSchedule(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"@every 10ms", "@every x", "61 * * * *", "every day", "* * * * * * *"} {
		if _, err := parseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	s, _ := parseSchedule("0 2 * * *")
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.Local)
	if got := s.next(now); !got.Equal(time.Date(2026, 11, 27, 2, 0, 0, 0, time.Local)) {
		t.Errorf("next = %s", got)
	}
}

// A stop while a scan runs cancels it, records nothing half-done, and the
// service returns promptly with its history intact.
func TestStopMidScan(t *testing.T) {
	dir := t.TempDir()
	f := &fakeFleet{spec: historytest.Spec{Clusters: 5}}
	r := start(t, Config{Scan: f.scan, StateDir: dir, TokenFile: tokenFile(t, "tok")})
	if code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	f.gate, f.started = make(chan struct{}), make(chan struct{}, 1)
	if code, _, _ := post(t, r.base+"/api/scans", "tok"); code != http.StatusAccepted {
		t.Fatal(code)
	}
	<-f.started
	begin := time.Now()
	r.stop(t)
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("stop took %s", d)
	}
	s, err := history.Open(context.Background(), dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(context.Background(), 0); len(l) != 1 {
		t.Fatalf("%d scans recorded, want only the finished one", len(l))
	}
	r.done = make(chan error, 1)
	r.done <- nil // Cleanup's stop sees a finished server
}

func TestAPIAndPages(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 3, Day: 8}}
	f.day.Store(8)
	r := start(t, Config{Scan: f.scan, TokenFile: tokenFile(t, "tok")})
	if code, body := get(t, r.base+"/api/drift"); code != 404 || !strings.Contains(body, "two recorded scans") {
		t.Fatalf("drift before scans: %d %s", code, body)
	}
	if code, body := get(t, r.base+"/"); code != 200 || !strings.Contains(body, "no scan recorded yet") {
		t.Fatalf("empty index: %d", code)
	}
	for i := 0; i < 3; i++ { // days 8, 9, 10
		if code, body, _ := post(t, r.base+"/api/scans?wait=true", "tok"); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	code, body := get(t, r.base+"/api/scans")
	var list scanList
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Scans) != 3 || list.Running {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = get(t, r.base+"/api/scans/"+list.Scans[1].ID)
	var rep results.Report
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || rep.ScanID != list.Scans[1].ID || rep.Facts == nil {
		t.Fatalf("get: %d %.200s", code, body)
	}
	if code, body = get(t, r.base+"/api/scans/latest?format=markdown"); code != 200 || !strings.Contains(body, "#") {
		t.Fatalf("markdown: %d %.200s", code, body)
	}
	if code, _ = get(t, r.base+"/api/scans/latest?format=nope"); code != 400 {
		t.Fatalf("bad format: %d", code)
	}
	if code, _ = get(t, r.base+"/api/scans/nosuchscan"); code != 404 {
		t.Fatalf("missing scan: %d", code)
	}
	code, body = get(t, r.base+"/api/drift")
	var d history.Drift
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil || !d.Worse || d.To.ID != list.Scans[0].ID || d.From.ID != list.Scans[1].ID {
		t.Fatalf("drift: %d %.300s", code, body)
	}
	code, body = get(t, r.base+"/api/drift?from="+list.Scans[2].ID+"&to=previous&format=markdown")
	if code != 200 || !strings.Contains(body, "# Drift") {
		t.Fatalf("drift 8→9: %d %s", code, body)
	}
	if code, _ = get(t, r.base+"/api/drift?from=latest&to="+list.Scans[2].ID); code != 400 {
		t.Fatalf("reversed drift: %d", code)
	}
	code, body = get(t, r.base+"/")
	if code != 200 || !strings.Contains(body, `id="drift-headline"`) || strings.Count(body, `class="point"`) != 3 ||
		!strings.Contains(body, "member_unreachable") || !strings.Contains(body, list.Scans[0].ID) {
		t.Fatalf("index: %d\n%s", code, body)
	}
	if code, body = get(t, r.base+"/report"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("report: %d", code)
	}
	if code, _ = get(t, r.base+"/scans/"+list.Scans[2].ID); code != 200 {
		t.Fatalf("old report: %d", code)
	}
}

// Series of members that left the fleet must vanish from /metrics.
func TestMetricsFollowLatestScan(t *testing.T) {
	var n atomic.Int32
	n.Store(3)
	f := &fakeFleet{}
	scan := func(ctx context.Context) (*results.Report, error) {
		f.spec.Clusters = int(n.Load())
		return f.scan(ctx)
	}
	r := start(t, Config{Scan: scan, TokenFile: tokenFile(t, "tok")})
	if code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	_, m := get(t, r.base+"/metrics")
	for _, want := range []string{
		`etcdaudit_control_status{cluster="cluster-0002",control="ETCD-M-001",member="cluster-0002-m0"} 1`,
		`etcdaudit_member_up{cluster="cluster-0002",member="cluster-0002-m1"} 1`,
		`etcdaudit_scans_total{outcome="success"} 1`,
		`etcdaudit_scans_total{outcome="cancelled"} 0`,
		`etcdaudit_collector_errors{collector="status"} 0`,
		`etcdaudit_scan_duration_seconds_count 1`,
		`etcdaudit_last_scan_timestamp_seconds `,
		`etcdaudit_last_success_timestamp_seconds `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("missing %s", want)
		}
	}
	n.Store(2)
	if code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	_, m = get(t, r.base+"/metrics")
	if strings.Contains(m, "cluster-0002") {
		t.Fatalf("series of a removed cluster linger:\n%s", grep(m, "cluster-0002"))
	}
	if !strings.Contains(m, `etcdaudit_scans_total{outcome="success"} 2`) {
		t.Fatal("second scan not counted")
	}
	// Drift from 3 clusters to 2: cluster-0002 removed, not worse.
	if !strings.Contains(m, `etcdaudit_drift_changes{kind="cluster_removed"} 1`) || !strings.Contains(m, "etcdaudit_drift_worse 0") {
		t.Fatalf("drift gauges:\n%s", grep(m, "drift"))
	}
}

func TestScanErrorsAreReportedNotRecorded(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	var mu sync.Mutex
	scan := func(ctx context.Context) (*results.Report, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil, errors.New("inventory fleet.yaml:3: endpoints: missing")
		}
		return nil, nil
	}
	r := start(t, Config{Scan: scan, StateDir: dir, TokenFile: tokenFile(t, "tok")})
	code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok")
	if code != 500 || !strings.Contains(body, "fleet.yaml:3") {
		t.Fatalf("%d %s", code, body)
	}
	_, page := get(t, r.base+"/")
	if !strings.Contains(page, `id="last-error"`) {
		t.Fatal("index does not show the failed scan")
	}
	if code, body, _ = post(t, r.base+"/api/scans?wait=1", "tok"); code != 500 || !strings.Contains(body, "no report") {
		t.Fatalf("%d %s", code, body)
	}
	_, m := get(t, r.base+"/metrics")
	if !strings.Contains(m, `etcdaudit_scans_total{outcome="error"} 2`) {
		t.Fatal(grep(m, "scans_total"))
	}
	if l, _ := r.s.store.List(context.Background(), 0); len(l) != 0 {
		t.Fatalf("recorded %d", len(l))
	}
}

func TestPanickingScanIsAFailedScan(t *testing.T) {
	scan := func(context.Context) (*results.Report, error) { panic("hostile member answer") }
	r := start(t, Config{Scan: scan, TokenFile: tokenFile(t, "tok")})
	code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok")
	if code != 500 || !strings.Contains(body, "scan panicked: hostile member answer") {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := get(t, r.base+"/healthz"); code != 200 {
		t.Fatal("service died with the scan")
	}
	if code, _, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 500 {
		t.Fatal("a second scan could not start after a panic")
	}
}

func TestRestartKeepsLatestScan(t *testing.T) {
	dir := t.TempDir()
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	r := start(t, Config{Scan: f.scan, StateDir: dir, TokenFile: tokenFile(t, "tok")})
	for i := 0; i < 2; i++ {
		if code, _, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
			t.Fatal(code)
		}
	}
	r.stop(t)
	r.done = make(chan error, 1)
	r.done <- nil
	r2 := start(t, Config{Scan: f.scan, StateDir: dir})
	_, m := get(t, r2.base+"/metrics")
	if !strings.Contains(m, "etcdaudit_control_status{") {
		t.Fatal("restarted service lost the latest scan's gauges")
	}
	if code, _ := get(t, r2.base+"/api/drift"); code != 200 {
		t.Fatalf("drift after restart: %d", code)
	}
}

func TestScanOnStart(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 1}}
	r := start(t, Config{Scan: f.scan, ScanOnStart: true})
	waitFor(t, 10*time.Second, func() bool {
		l, _ := r.s.store.List(context.Background(), 0)
		return len(l) == 1
	})
	if f.calls.Load() != 1 {
		t.Fatalf("%d scans", f.calls.Load())
	}
}

func TestRetentionApplied(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 1}}
	r := start(t, Config{Scan: f.scan, TokenFile: tokenFile(t, "tok"), Retention: history.Retention{Keep: 2}})
	for i := 0; i < 4; i++ {
		if code, _, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
			t.Fatal(code)
		}
	}
	l, _ := r.s.store.List(context.Background(), 0)
	if len(l) != 2 || !strings.HasPrefix(l[0].ID, "20260104") {
		t.Fatalf("%d scans, newest %s", len(l), fmt.Sprint(l))
	}
}

// The next scheduled scan lands within [due, due+jitter].
func TestJitterBounds(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 1}}
	jittered := false
	for i := 0; i < 3; i++ {
		before := time.Now()
		r := start(t, Config{Scan: f.scan, Schedule: "@every 1h", Jitter: 30 * time.Minute})
		var next float64
		waitFor(t, 5*time.Second, func() bool {
			_, m := get(t, r.base+"/metrics")
			next = gaugeValue(m, "etcdaudit_next_scan_timestamp_seconds")
			return next > 0
		})
		lo := float64(before.Add(time.Hour).Unix()) - 1
		hi := float64(time.Now().Add(90*time.Minute).Unix()) + 1
		if next < lo || next > hi {
			t.Fatalf("next scan at %v, want within [%v, %v]", next, lo, hi)
		}
		jittered = jittered || next > lo+60
		r.stop(t)
		r.done = make(chan error, 1)
		r.done <- nil
	}
	if !jittered {
		t.Fatal("three schedules, none delayed by the 30 min jitter")
	}
	if _, err := New(context.Background(), Config{Scan: f.scan, StateDir: t.TempDir(), Jitter: -time.Second}); err == nil {
		t.Fatal("negative jitter accepted")
	}
}

func gaugeValue(metrics, name string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// TestTokenFileThatIsNotAFile: a --token-file naming a FIFO, a device, a
// directory, a socket or a huge file is refused at start-up, naming what it
// is, instead of blocking or reading without end.
func TestTokenFileThatIsNotAFile(t *testing.T) {
	f := &fakeFleet{}
	for _, c := range inputfiletest.Hostile(t) {
		t.Run(c.Name, func(t *testing.T) {
			err := inputfiletest.Within(t, func() error {
				_, err := New(context.Background(), Config{Scan: f.scan, StateDir: t.TempDir(), TokenFile: c.Path})
				return err
			})
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("New with token file %s: %v; want %q", c.Name, err, c.Want)
			}
		})
	}
}

package service

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/history/historytest"
)

func getHost(t *testing.T, url, host string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header
}

// On loopback, a request under a DNS name that is not a loopback name is
// refused: that is what a DNS-rebinding page sends.
func TestLoopbackRefusesOtherHosts(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	r := start(t, Config{Scan: f.scan, ScanOnStart: true, AllowedHosts: []string{"audit.example.com", "*.corp.example"}})
	waitFor(t, 10*time.Second, func() bool { c, _ := get(t, r.base+"/api/scans/latest"); return c == 200 })
	port := r.base[strings.LastIndex(r.base, ":")+1:]
	for host, want := range map[string]int{
		"evil.example:" + port: 421, "evil.example": 421, "10.0.0.5:" + port: 421, "localhost.evil.example": 421,
		"127.0.0.1:" + port: 200, "localhost:" + port: 200, "LOCALHOST.": 200, "app.localhost": 200, "[::1]:" + port: 200,
		"audit.example.com": 200, "a.corp.example:" + port: 200, "corp.example": 421,
	} {
		for _, path := range []string{"/api/scans", "/api/scans/latest", "/"} {
			code, body, _ := getHost(t, r.base+path, host)
			if code != want {
				t.Errorf("Host %q %s: %d, want %d: %.200s", host, path, code, want, body)
			}
		}
	}
}

// The report is served with the report's own hash-pinned script policy,
// not 'unsafe-inline'.
func TestReportCSPPinsScriptHash(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	r := start(t, Config{Scan: f.scan, ScanOnStart: true})
	waitFor(t, 10*time.Second, func() bool { c, _ := get(t, r.base+"/report"); return c == 200 })
	for _, path := range []string{"/report", "/api/scans/latest?format=html"} {
		_, _, h := getHost(t, r.base+path, "")
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline'; script") ||
			strings.Contains(csp, "script-src 'unsafe-inline'") || !strings.Contains(csp, "frame-ancestors 'self'") {
			t.Fatalf("%s CSP: %s", path, csp)
		}
	}
}

// When every lookup slot is taken, a lookup waits LookupWait and is then
// refused with 503 and Retry-After; the list and the probes still answer.
func TestLookupsAreCapped(t *testing.T) {
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	r := start(t, Config{Scan: f.scan, ScanOnStart: true, MaxLookups: 2, LookupWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, func() bool { c, _ := get(t, r.base+"/api/scans/latest"); return c == 200 })
	r.s.lookups <- struct{}{}
	r.s.lookups <- struct{}{}
	code, body, h := getHost(t, r.base+"/api/scans/latest", "")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "busy") {
		t.Fatalf("saturated: %d %v %s", code, h, body)
	}
	for _, p := range []string{"/api/scans", "/readyz", "/healthz", "/metrics"} {
		if c, _ := get(t, r.base+p); c != 200 {
			t.Fatalf("%s while lookups are saturated: %d", p, c)
		}
	}
	<-r.s.lookups
	if c, _ := get(t, r.base+"/api/scans/latest"); c != 200 {
		t.Fatalf("a slot free again: %d", c)
	}
	<-r.s.lookups
	if _, m := get(t, r.base+"/metrics"); !strings.Contains(m, "etcdaudit_lookups_refused_total 1") {
		t.Fatalf("refusal not counted:\n%s", grep(m, "lookups_refused"))
	}
}

// A damaged history does not stop serve: it starts not ready with the
// reason on /readyz, fails scans with it, answers lookups with errors
// (no panic, no lock left behind), and becomes ready again, recording
// scans, once the file is replaced.
func TestDamagedHistoryNotReadyThenRecovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, history.FileName)
	var ids []string
	for d := 0; d < 4; d++ {
		e, err := history.Record(ctx, dir, historytest.Report(historytest.Spec{Clusters: 6, Day: d}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(len(good)/2)); err != nil {
		t.Fatal(err)
	}
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	f.day.Store(10)
	sctx, cancel := context.WithCancel(ctx)
	s, err := New(sctx, Config{Scan: f.scan, StateDir: dir, ScanOnStart: true, TokenFile: tokenFile(t, "tok")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{s: s, base: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(sctx, ln) }()
	t.Cleanup(func() { r.stop(t) })

	var body string
	waitFor(t, 10*time.Second, func() bool {
		var code int
		code, body = get(t, r.base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "history corrupt")
	})
	for _, want := range []string{path, "move it aside", "history check"} {
		if !strings.Contains(body, want) {
			t.Fatalf("/readyz does not say %q: %s", want, body)
		}
	}
	if c, _ := get(t, r.base+"/healthz"); c != 200 {
		t.Fatalf("/healthz %d: the process is alive, only not ready", c)
	}
	for _, id := range ids {
		if c, b := get(t, r.base+"/api/scans/"+id); c < 400 || !strings.Contains(b, "history corrupt") {
			t.Fatalf("GET scan %s on a damaged history: %d %.300s", id, c, b)
		}
	}
	code, out, _ := post(t, r.base+"/api/scans?wait=1", "tok")
	if code != http.StatusInternalServerError || !strings.Contains(out, "scan not started") || !strings.Contains(out, "history corrupt") {
		t.Fatalf("a scan with a damaged history: %d %s", code, out)
	}
	if f.calls.Load() != 0 {
		t.Fatalf("the fleet was scanned %d times for results that could not be kept", f.calls.Load())
	}
	if _, m := get(t, r.base+"/metrics"); gaugeValue(m, "etcdaudit_history_usable") != 0 {
		t.Fatalf("etcdaudit_history_usable:\n%s", grep(m, "history_usable"))
	}

	// The operator restores the file from a backup.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { c, _ := get(t, r.base+"/readyz"); return c == 200 })
	if c, b := get(t, r.base+"/api/scans/"+ids[0]); c != 200 {
		t.Fatalf("an old scan after the restore: %d %.300s", c, b)
	}
	if code, out, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("a scan after the restore (a lock left behind would say 'locked'): %d %s", code, out)
	}
	st, err := history.Open(ctx, dir, history.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := st.List(ctx, 0); err != nil || len(l) != 5 {
		t.Fatalf("%d scans after the restore and one scan, %v", len(l), err)
	}
	if _, m := get(t, r.base+"/metrics"); gaugeValue(m, "etcdaudit_history_usable") != 1 {
		t.Fatalf("etcdaudit_history_usable:\n%s", grep(m, "history_usable"))
	}

	// Moved aside instead: the next scan starts a new history.
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("a scan after the file was moved aside: %d %s", code, out)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Fatal("no new history")
	}
}

// A latest scan whose report does not read back (a damaged blob, not a
// damaged file) leaves the history writable: serve is ready and the next
// scan replaces it as the latest.
func TestUnreadableLatestScanDoesNotBlockScans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := history.Record(ctx, dir, historytest.Report(historytest.Spec{Clusters: 2, Day: 0}))
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, history.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("reports")).Put([]byte(e.ID), []byte("\x1f\x8b not gzip"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f := &fakeFleet{spec: historytest.Spec{Clusters: 2}}
	f.day.Store(1)
	r := start(t, Config{Scan: f.scan, StateDir: dir, TokenFile: tokenFile(t, "tok")})
	if code, out, _ := post(t, r.base+"/api/scans?wait=1", "tok"); code != 200 {
		t.Fatalf("scan after an unreadable latest scan: %d %s", code, out)
	}
	if c, _ := get(t, r.base+"/report"); c != 200 {
		t.Fatalf("/report after the new scan: %d", c)
	}
}

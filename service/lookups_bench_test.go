package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// TestLookupBurst is a measurement (docs/serve.md, "Limits"), skipped unless
// ETCDAUDIT_BENCH_LOOKUPS_DIR names a state dir with a large history (make
// one with scripts: ETCDAUDIT_BENCH_DIR=DIR go test -run '^$' -bench
// BenchmarkList -benchtime 1x ./history): 200 clients at once GET
// /api/scans/ID of 200 different scans; it logs status codes, latency and
// the process's resident memory (VmRSS before, VmHWM peak after).
// ETCDAUDIT_BENCH_MAX_LOOKUPS sets the cap (default DefaultMaxLookups).
func TestLookupBurst(t *testing.T) {
	dir := os.Getenv("ETCDAUDIT_BENCH_LOOKUPS_DIR")
	if dir == "" {
		t.Skip("measurement: ETCDAUDIT_BENCH_LOOKUPS_DIR=<state dir of a large history>")
	}
	maxLookups, _ := strconv.Atoi(os.Getenv("ETCDAUDIT_BENCH_MAX_LOOKUPS"))
	clients := 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	never := func(context.Context) (*results.Report, error) { return nil, fmt.Errorf("no scans in this measurement") }
	s, err := New(ctx, Config{Scan: never, StateDir: dir, MaxLookups: maxLookups})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Minute, func() bool { c, _ := get(t, base+"/readyz"); return c == 200 })
	t.Logf("ready after %s (probe: every page read and checked, latest two scans loaded)", time.Since(begin).Round(time.Millisecond))
	_, body := get(t, base+"/api/scans?limit=0")
	var list scanList
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Scans) < 3 {
		t.Fatalf("list: %v (%d scans)", err, len(list.Scans))
	}
	ids := list.Scans[2:] // the latest two are served from memory
	runtime.GC()
	rssBefore, hwmBefore := procStatus(t, "VmRSS"), procStatus(t, "VmHWM")
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var mu sync.Mutex
	codes := map[int]int{}
	var lat []time.Duration
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			<-start
			t0 := time.Now()
			resp, err := client.Get(base + "/api/scans/" + id)
			code := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			lat = append(lat, time.Since(t0))
			mu.Unlock()
		}(ids[i%len(ids)].ID)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond) }
	t.Logf("cap %d: %d clients in %s; status %v; latency p50 %s p95 %s max %s", cap(s.lookups), clients, wall.Round(time.Millisecond),
		codes, q(0.5), q(0.95), q(1))
	t.Logf("RSS before the burst %.0f MiB (peak so far %.0f MiB); peak during it %.0f MiB",
		float64(rssBefore)/1024, float64(hwmBefore)/1024, float64(procStatus(t, "VmHWM"))/1024)
}

func procStatus(t *testing.T, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

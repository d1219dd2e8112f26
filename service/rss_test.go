package service

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestServeRSSFlat is a measurement, run by scripts/bench/history.sh
// (ETCDAUDIT_BENCH_RSS=1): 100 scheduled scans of a synthetic 1,000-member
// fleet through the whole service (record, reload, drift, trend, metrics
// scraped after each scan, the page rendered), resident memory sampled as
// it goes. It fails when RSS keeps growing after warm-up.
func TestServeRSSFlat(t *testing.T) {
	if os.Getenv("ETCDAUDIT_BENCH_RSS") != "1" {
		t.Skip("measurement: ETCDAUDIT_BENCH_RSS=1 (scripts/bench/history.sh)")
	}
	scans := 100
	if n, err := strconv.Atoi(os.Getenv("ETCDAUDIT_BENCH_RSS_SCANS")); err == nil && n > 0 {
		scans = n
	}
	var day int
	scan := func(ctx context.Context) (*results.Report, error) {
		day++
		rep := historytest.Report(historytest.Spec{Clusters: 334, Day: day})
		rep.ScanID = ""
		return rep, nil
	}
	r := start(t, Config{Scan: scan, Schedule: "@every 1s", Retention: history.Retention{Keep: 30}})
	samples := map[int]int64{}
	seen := 0
	deadline := time.Now().Add(time.Duration(scans)*6*time.Second + time.Minute)
	for seen < scans {
		if time.Now().After(deadline) {
			t.Fatalf("only %d scans in time", seen)
		}
		time.Sleep(200 * time.Millisecond)
		_, body := get(t, r.base+"/metrics")
		n := counterValue(body, `etcdaudit_scans_total{outcome="success"}`)
		if n == seen {
			continue
		}
		seen = n
		_, _ = get(t, r.base+"/")
		if seen == 10 || seen%25 == 0 || seen == scans {
			runtime.GC()
			samples[seen] = rssKiB(t)
			t.Logf("after %3d scans: RSS %6.1f MiB, heap %6.1f MiB", seen, float64(samples[seen])/1024, heapMiB())
		}
	}
	warm, last := samples[10], samples[seen]
	if warm == 0 || last == 0 {
		t.Fatalf("samples %v", samples)
	}
	if growth := float64(last-warm) / float64(warm); growth > 0.25 {
		t.Fatalf("RSS grew %.0f%% from scan 10 to scan %d (%v)", 100*growth, seen, samples)
	}
}

func counterValue(metrics, series string) int {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

func rssKiB(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func heapMiB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

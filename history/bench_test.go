package history

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/history/historytest"
)

// The figure: a history of 365 nightly scans of a 1,000-member
// fleet (334 clusters of 3, 20 controls a member), drift between any two
// scans under a second. ETCDAUDIT_BENCH_SCANS and ETCDAUDIT_BENCH_CLUSTERS
// shrink it; ETCDAUDIT_BENCH_DIR keeps the store between runs.

func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var (
	benchOnce  sync.Once
	benchStore *Store
	benchIDs   []string
	benchErr   error
)

func benchHistory(b *testing.B) (*Store, []string) {
	b.Helper()
	benchOnce.Do(func() {
		scans := benchEnv("ETCDAUDIT_BENCH_SCANS", 365)
		clusters := benchEnv("ETCDAUDIT_BENCH_CLUSTERS", 334)
		dir := os.Getenv("ETCDAUDIT_BENCH_DIR")
		if dir == "" {
			dir, benchErr = os.MkdirTemp("", "etcdaudit-history-bench")
			if benchErr != nil {
				return
			}
		}
		ctx := context.Background()
		if benchStore, benchErr = Open(ctx, dir, Options{Create: true}); benchErr != nil {
			return
		}
		list, _ := benchStore.List(ctx, 0)
		start := time.Now()
		for d := len(list); d < scans; d++ {
			rep := historytest.Report(historytest.Spec{Clusters: clusters, Day: d})
			if _, _, benchErr = benchStore.Put(ctx, rep); benchErr != nil {
				return
			}
		}
		list, benchErr = benchStore.List(ctx, 0)
		blobs := 0
		for _, e := range list {
			benchIDs = append(benchIDs, e.ID)
			blobs += e.ReportBytes + e.FactsBytes
		}
		st, _ := os.Stat(filepath.Join(dir, FileName))
		b.Logf("history: %d scans of %d members in %s, built in %s", len(list), clusters*3, dir, time.Since(start).Round(time.Second))
		if st != nil && len(list) > 0 {
			b.Logf("history.db %.1f MiB on disk; compressed scans %.1f MiB (%.0f KiB a scan)",
				float64(st.Size())/(1<<20), float64(blobs)/(1<<20), float64(blobs)/1024/float64(len(list)))
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore, benchIDs
}

// BenchmarkDriftAnyTwo is `etcdaudit drift --from A --to B` minus the CLI:
// read two random scans back (decompress, decode) and diff them.
func BenchmarkDriftAnyTwo(b *testing.B) {
	s, ids := benchHistory(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for b.Loop() {
		i, j := rng.IntN(len(ids)), rng.IntN(len(ids))
		if i < j {
			i, j = j, i
		}
		from, err := s.Get(ctx, ids[i]) // ids are newest first
		if err != nil {
			b.Fatal(err)
		}
		to, err := s.Get(ctx, ids[j])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Diff(from, to, DriftOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList is `history list` (index only, nothing decompressed).
func BenchmarkList(b *testing.B) {
	s, ids := benchHistory(b)
	ctx := context.Background()
	for b.Loop() {
		l, err := s.List(ctx, 0)
		if err != nil || len(l) != len(ids) {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecord1000 is one nightly scan of 1,000 members recorded:
// compress, one fsynced bbolt transaction.
func BenchmarkRecord1000(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	rep := historytest.Report(historytest.Spec{Clusters: 334})
	for b.Loop() {
		rep.ScanID = ""
		if _, _, err := s.Put(ctx, rep); err != nil {
			b.Fatal(err)
		}
	}
}

package collectors_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// The scripts/bench/collectors.sh side-by-side runs drive the two tests
// below against a server it started; without ETCDAUDIT_BENCH_ENDPOINT they
// skip.

// TestBenchSeedEvents writes ETCDAUDIT_BENCH_KEYS events keys (default one
// million), half of them on leases shared 1,000 keys a lease.
func TestBenchSeedEvents(t *testing.T) {
	cli := benchClient(t)
	n := 1_000_000
	if s := os.Getenv("ETCDAUDIT_BENCH_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("ETCDAUDIT_BENCH_KEYS: %v", err)
		}
	}
	start := time.Now()
	res, err := seed.Events(context.Background(), cli, "/registry/events/", n/2, n-n/2, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("seeded %d leased + %d unleased events keys on %d leases in %s\n",
		res.Leased, res.Unleased, len(res.Leases), time.Since(start).Round(time.Millisecond))
}

// TestBenchKeysOnlyPager is the baseline: the plain clientv3 pager an
// engineer would write (keys-only, page 10,000, pinned revision) counting
// leased keys. On 3.7 it undercounts: keys-only answers carry no lease.
func TestBenchKeysOnlyPager(t *testing.T) {
	cli := benchClient(t)
	start := time.Now()
	keys, leased, err := keysOnlyPager(context.Background(), cli, "/registry/events/", 10000)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("pager: %d keys, %d leased, %s\n", keys, leased, time.Since(start).Round(time.Millisecond))
}

func benchClient(t *testing.T) *clientv3.Client {
	ep := os.Getenv("ETCDAUDIT_BENCH_ENDPOINT")
	if ep == "" {
		t.Skip("ETCDAUDIT_BENCH_ENDPOINT not set (scripts/bench/collectors.sh sets it)")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func keysOnlyPager(ctx context.Context, cli *clientv3.Client, prefix string, page int64) (keys, leased int64, err error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(page)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			return keys, leased, err
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			keys++
			if kv.Lease != 0 {
				leased++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return keys, leased, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// BenchmarkLeaseCoverage compares the event_leases collector (run through
// the whole runner, discovery included) with the bare pager on an
// in-process 3.5 server holding 100,000 events keys, half leased.
func BenchmarkLeaseCoverage(b *testing.B) {
	c := etcdtest.NewCluster(b, etcdtest.WithVersion("embed"))
	cfg := c.ClientConfig()
	cli, err := clientv3.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	const n = 100_000
	if _, err := seed.Events(context.Background(), cli, "/registry/events/", n/2, n/2, 6*time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run("collector", func(b *testing.B) {
		fleet := fleetForBench(c)
		for b.Loop() {
			f, err := collectors.Run(context.Background(), fleet, collectors.Options{Include: []string{"version", "event_leases"}})
			if err != nil {
				b.Fatal(err)
			}
			if el := f.Clusters[0].EventLeases; el == nil || el.Keys != n || el.Leased != n/2 {
				b.Fatalf("coverage %+v", el)
			}
		}
	})
	b.Run("pager", func(b *testing.B) {
		for b.Loop() {
			keys, leased, err := keysOnlyPager(context.Background(), cli, "/registry/events/", 10000)
			if err != nil || keys != n || leased != n/2 {
				b.Fatalf("%d %d %v", keys, leased, err)
			}
		}
	})
}

// TestBenchFleetFacts runs the quick profile on the inventory named by
// ETCDAUDIT_BENCH_FLEET (scripts/bench/collectors.sh, BENCH_FLEET_CMD), for
// profiling with -test.cpuprofile.
func TestBenchFleetFacts(t *testing.T) {
	path := os.Getenv("ETCDAUDIT_BENCH_FLEET")
	if path == "" {
		t.Skip("ETCDAUDIT_BENCH_FLEET not set")
	}
	fleet, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, conc := range []int{4, 64} {
		for range 3 {
			start := time.Now()
			f, err := collectors.Run(context.Background(), fleet, collectors.Options{Concurrency: conc})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("fleet facts, concurrency %d: %d clusters in %s\n", conc, len(f.Clusters), time.Since(start).Round(time.Millisecond))
		}
	}
	for range 3 {
		start := time.Now()
		var wg sync.WaitGroup
		for _, c := range fleet.Clusters {
			wg.Go(func() {
				conn, err := inventory.Connect(c)
				if err == nil {
					inventory.Discover(context.Background(), c, conn)
				}
			})
		}
		wg.Wait()
		fmt.Printf("discovery alone: %d clusters in %s\n", len(fleet.Clusters), time.Since(start).Round(time.Millisecond))
	}
}

package leases

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

	"github.com/etcdaudit/etcdaudit/internal/seed"
)

// The TestBench* functions are the steps of scripts/bench/remediation.sh,
// each run as its own process under /usr/bin/time against the server at
// ETCDAUDIT_BENCH_ENDPOINT (skipped without it).

func benchClient(t *testing.T) *clientv3.Client {
	ep := os.Getenv("ETCDAUDIT_BENCH_ENDPOINT")
	if ep == "" {
		t.Skip("ETCDAUDIT_BENCH_ENDPOINT not set (scripts/bench/remediation.sh sets it)")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestBenchSeedUnleased writes ETCDAUDIT_BENCH_KEYS (default 1,000,000)
// events keys without a lease, as `etcdctl migrate` left them.
func TestBenchSeedUnleased(t *testing.T) {
	cli := benchClient(t)
	n := 1_000_000
	if s := os.Getenv("ETCDAUDIT_BENCH_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("ETCDAUDIT_BENCH_KEYS: %v", err)
		}
	}
	start := time.Now()
	res, err := seed.Events(context.Background(), cli, "/registry/events/", 0, n, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("seeded %d unleased events keys in %s\n", res.Unleased, time.Since(start).Round(time.Millisecond))
}

// TestBenchAttach attaches leases to every unleased events key.
func TestBenchAttach(t *testing.T) {
	cli := benchClient(t)
	start := time.Now()
	rep, err := Attach(context.Background(), cli, "/registry/events/", Options{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("attach: %d keys, %d attached, %d retried, %d leases in %s\n", rep.Keys, rep.Attached, rep.Retried, len(rep.Leases), time.Since(start).Round(time.Millisecond))
}

// TestBenchPlainReput is the baseline: Kubernetes' first attachlease, the
// plain way: page through the keys (full key-values, 10,000 a page, pinned
// revision) and re-put each with its value and one lease, 128 puts a
// transaction, 4 in flight, no compares.
func TestBenchPlainReput(t *testing.T) {
	cli := benchClient(t)
	ctx := context.Background()
	start := time.Now()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan []clientv3.Op, DefaultConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	puts := 0
	for range DefaultConcurrency {
		wg.Go(func() {
			for ops := range batches {
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				puts += len(ops)
				mu.Unlock()
			}
		})
	}
	prefix := "/registry/events/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	key, rev := prefix, int64(0)
	var ops []clientv3.Op
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(DefaultPageSize)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			ops = append(ops, clientv3.OpPut(string(kv.Key), string(kv.Value), clientv3.WithLease(lease.ID)))
			if len(ops) == DefaultMaxTxnOps {
				batches <- ops
				ops = nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	if len(ops) > 0 {
		batches <- ops
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	fmt.Printf("plain re-put: %d keys in %s\n", puts, time.Since(start).Round(time.Millisecond))
}

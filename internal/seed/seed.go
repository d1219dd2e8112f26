// Package seed writes the data auditor tests and the demo fleet need into
// real etcd servers: v2 keys and directories (with TTLs), v3 keys, a
// Kubernetes-like /registry tree in either store, events keys with and
// without leases, and hostile key names. Every seeder returns exact counts so
// a test can assert what a collector must find. It has no testing dependency:
// the demo command uses it too.
//
// v3 writes go in transactions of at most MaxTxnOps puts (the server's
// default --max-txn-ops) from a few concurrent workers, which is what makes a
// million keys a matter of seconds rather than minutes.
package seed

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxTxnOps is etcd's default --max-txn-ops; a larger transaction is refused.
const MaxTxnOps = 128

// Workers is how many transactions are in flight at once. More does not help
// a single raft log on two cores.
const Workers = 4

// putAll writes n keys, op(i) giving the i-th put, in transactions of
// MaxTxnOps. It returns how many keys were written (whole committed
// transactions only) and the first error; committed, when not nil, is told
// each committed range [start, end) so callers can count exactly by kind.
func putAll(ctx context.Context, cli *clientv3.Client, n int, op func(i int) clientv3.Op, committed func(start, end int)) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan int)
	var (
		mu       sync.Mutex
		written  int
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(Workers, (n+MaxTxnOps-1)/MaxTxnOps) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := make([]clientv3.Op, 0, MaxTxnOps)
			for start := range batches {
				ops = ops[:0]
				end := min(start+MaxTxnOps, n)
				for i := start; i < end; i++ {
					ops = append(ops, op(i))
				}
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("put keys %d-%d: %w", start, end-1, err)
					}
					cancel()
				} else {
					written += end - start
					if committed != nil {
						committed(start, end)
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for start := 0; start < n; start += MaxTxnOps {
		select {
		case batches <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil && written < n {
		firstErr = ctx.Err()
	}
	return written, firstErr
}

// V3Keys writes n keys prefix+"%08d" with small values and returns how many
// were written.
func V3Keys(ctx context.Context, cli *clientv3.Client, prefix string, n int) (int, error) {
	written, err := putAll(ctx, cli, n, func(i int) clientv3.Op {
		return clientv3.OpPut(fmt.Sprintf("%s%08d", prefix, i), fmt.Sprintf("value-%d", i))
	}, nil)
	if err != nil {
		return written, fmt.Errorf("seed v3 keys under %q: %w", prefix, err)
	}
	return written, nil
}

package v2data

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// v2Workers is how many v2 deletes or sets are in flight: each is one HTTP
// request and one raft entry.
const v2Workers = 16

// CleanupReport says what Cleanup deleted and what it left.
type CleanupReport struct {
	Deleted     int `json:"deleted"`
	DeletedDirs int `json:"deleted_dirs"`
	// NotCopied are v2 keys that the copy did not read at their current
	// modified index and that v3 does not hold with the same value: kept. Changed are keys that changed between the check and the
	// delete (the delete is guarded by their modified index): kept.
	NotCopied KeyList `json:"not_copied"`
	Changed   KeyList `json:"changed"`
	// DirsLeft are directories that were not empty when deleted (something
	// under them was kept or written meanwhile).
	DirsLeft KeyList `json:"dirs_left"`
}

// Cleanup deletes the migrated v2 data under prefixes (the seed's step 13):
// each v2 key only when it is migrated — copied is the copy's Written list,
// and a key the copy read at the modified index it still has is migrated,
// whatever v3 holds now (after the backend switch the API servers update
// and delete v3 keys); any other key only when v3 holds the same value —
// and with its modified index as a guard so a write made meanwhile is kept;
// then the directories, deepest first, each only if empty. A prefix's own
// directory goes too ("/" stays). It returns an error naming what was kept
// when anything was. Run NoTTLKeys afterwards: while any v2 key or directory
// with a TTL is left, the leader keeps appending v2 SYNC entries.
func Cleanup(ctx context.Context, kapi client.KeysAPI, v3 *clientv3.Client, prefixes []string, copied []KeyRev) (CleanupReport, error) {
	var rep CleanupReport
	var mu sync.Mutex
	readAt := make(map[string]uint64, len(copied))
	for _, k := range copied {
		if k.V2Index != 0 {
			readAt[k.Key] = k.V2Index
		}
	}
	for _, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return rep, fmt.Errorf("clean up v2: %w", err)
		}
		var dirs []string
		var batch []*client.Node
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			var del, check []*client.Node
			for _, n := range batch {
				if i, ok := readAt[n.Key]; ok && i == n.ModifiedIndex {
					del = append(del, n)
				} else {
					check = append(check, n)
				}
			}
			ops := make([]clientv3.Op, len(check))
			for i, n := range check {
				ops[i] = clientv3.OpGet(n.Key)
			}
			var resps [][]*mvccpb.KeyValue
			if len(ops) > 0 {
				var err error
				if resps, err = txnGets(ctx, v3, ops); err != nil {
					return err
				}
			}
			for i, n := range check {
				if len(resps[i]) == 0 || sha256.Sum256(resps[i][0].Value) != sha256.Sum256([]byte(n.Value)) {
					rep.NotCopied.add(n.Key)
					continue
				}
				del = append(del, n)
			}
			batch = batch[:0]
			return parallel(ctx, len(del), func(i int) error {
				n := del[i]
				dctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
				_, err := kapi.Delete(dctx, n.Key, &client.DeleteOptions{PrevIndex: n.ModifiedIndex})
				cancel()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					rep.Deleted++
				case v2Code(err) == client.ErrorCodeTestFailed:
					rep.Changed.add(n.Key)
				case client.IsKeyNotFound(err): // expired meanwhile
				default:
					return fmt.Errorf("v2 delete %q: %w", n.Key, err)
				}
				return nil
			})
		}
		err = walk(ctx, kapi, p, DefaultTimeout, func(n *client.Node) error {
			if n.Dir {
				dirs = append(dirs, n.Key)
				return nil
			}
			if batch = append(batch, n); len(batch) >= leases.DefaultMaxTxnOps {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return rep, fmt.Errorf("clean up v2 %q: %w", p, err)
		}
		for i := len(dirs) - 1; i >= 0; i-- { // pre-order reversed: children before parents
			dctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			_, err := kapi.Delete(dctx, dirs[i], &client.DeleteOptions{Dir: true})
			cancel()
			switch {
			case err == nil:
				rep.DeletedDirs++
			case v2Code(err) == client.ErrorCodeDirNotEmpty:
				rep.DirsLeft.add(dirs[i])
			case client.IsKeyNotFound(err):
			default:
				return rep, fmt.Errorf("clean up v2: delete directory %q: %w", dirs[i], err)
			}
		}
	}
	if rep.NotCopied.Count > 0 || rep.Changed.Count > 0 {
		return rep, fmt.Errorf("clean up v2: kept %d keys v3 does not hold and %d that changed meanwhile (first: %q)",
			rep.NotCopied.Count, rep.Changed.Count, append(rep.NotCopied.Keys, rep.Changed.Keys...)[0])
	}
	return rep, nil
}

func v2Code(err error) int {
	var e client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Remains describes what the v2 store still holds.
type Remains struct {
	// Nodes counts keys and directories under "/" (the membership data
	// etcd keeps in v2 is not under it); TTLNodes those with a TTL.
	Nodes    int     `json:"nodes"`
	TTLNodes int     `json:"ttl_nodes"`
	Sample   KeyList `json:"sample"`
	TTLKeys  KeyList `json:"ttl_keys"`
}

// Remaining walks the whole v2 keyspace and says what is left.
func Remaining(ctx context.Context, kapi client.KeysAPI) (Remains, error) {
	var r Remains
	err := walk(ctx, kapi, "/", DefaultTimeout, func(n *client.Node) error {
		r.Nodes++
		r.Sample.add(n.Key)
		if hasTTL(n) {
			r.TTLNodes++
			r.TTLKeys.add(n.Key)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("list v2 store: %w", err)
	}
	return r, nil
}

// ErrV2TTLLeft says the v2 store still holds a key or directory with a TTL.
var ErrV2TTLLeft = errors.New("v2 keys with a TTL are left")

// NoTTLKeys proves no v2 key or directory with a TTL is left anywhere: while
// one exists the leader appends a v2 SYNC entry about twice a second, and
// 3.6 panics replaying those ("detected disallowed v2 WAL").
func NoTTLKeys(ctx context.Context, kapi client.KeysAPI) error {
	r, err := Remaining(ctx, kapi)
	if err != nil {
		return err
	}
	if r.TTLNodes > 0 {
		return fmt.Errorf("%w: %d, first %q", ErrV2TTLLeft, r.TTLNodes, r.TTLKeys.Keys)
	}
	return nil
}

// parallel runs fn(i) for i in [0,n) on v2Workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(v2Workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

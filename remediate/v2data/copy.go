package v2data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// ErrConflict says v3 already holds a key the copy would write, with another
// value (or, on a fresh copy, any key under the prefixes). Nothing is ever
// overwritten.
var ErrConflict = errors.New("v3 already holds keys under the migrated prefixes")

// Conflicts lists up to limit v3 keys under the v2 prefixes: each prefix's
// own key and everything below it. A fresh migration must find none (the
// seed's step 2: "check to make sure etcd had no v3 keys, if yes error out").
func Conflicts(ctx context.Context, v3 *clientv3.Client, prefixes []string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []string
	for _, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return nil, fmt.Errorf("conflict check: %w", err)
		}
		for _, op := range []clientv3.Op{
			clientv3.OpGet(p, clientv3.WithKeysOnly()),
			clientv3.OpGet(v3Prefix(p), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(limit-len(out)))),
		} {
			if len(out) >= limit {
				return out, nil
			}
			rctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			resp, err := v3.Do(rctx, op)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("conflict check under %q: %w", p, err)
			}
			for _, kv := range resp.Get().Kvs {
				out = append(out, string(kv.Key))
			}
		}
	}
	return out, nil
}

// CopyOptions tune Copy. Zero values take the defaults.
type CopyOptions struct {
	// Resume continues an interrupted copy: v3 keys identical to their v2
	// value count as copied. Without it, any v3 key under the prefixes
	// halts the copy before it writes anything.
	Resume bool
	// MaxTxnOps is the server's --max-txn-ops (default 128); halved when
	// the server refuses it.
	MaxTxnOps int
	// Concurrency is how many transactions are in flight (default 4).
	Concurrency int
	// BucketWidth and KeysPerLease shape the shared leases of TTL keys
	// (see leases.Pool).
	BucketWidth  time.Duration
	KeysPerLease int
	// Timeout bounds every request (default 30 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// KeyRev is a v3 key the copy wrote (or found already written on resume)
// and its mod revision then: what a rollback may delete, and only while the
// key still has that revision.
type KeyRev struct {
	Key         string `json:"key"`
	ModRevision int64  `json:"mod_revision"`
	Lease       int64  `json:"lease,omitempty"`
	// V2Index is the v2 key's modified index when the copy read it:
	// Cleanup deletes the v2 key only while it still has that index.
	V2Index uint64 `json:"v2_index,omitempty"`
}

// CopyReport says what Copy did.
type CopyReport struct {
	// Keys counts the v2 keys (not directories) read.
	Keys int `json:"keys"`
	// Copied counts keys this run wrote; AlreadyCopied those it found in v3
	// with the same value (an earlier, interrupted run).
	Copied        int `json:"copied"`
	AlreadyCopied int `json:"already_copied"`
	// Leased counts keys written with a lease (v2 keys with a TTL).
	Leased int `json:"leased"`
	// Conflicts are v3 keys that hold another value: not overwritten.
	Conflicts []string `json:"conflicts,omitempty"`
	// Leases are the leases granted for TTL keys.
	Leases []clientv3.LeaseID `json:"leases,omitempty"`
	// Written are the keys in v3 from this copy with their mod revisions.
	Written []KeyRev `json:"written"`
}

// afterCommit, when set (by tests only), runs after each committed copy
// transaction: a test cancels there to interrupt a copy mid-way.
var afterCommit func()

type item struct {
	key, value string
	index      uint64        // v2 modified index
	ttl        time.Duration // remaining, 0 when none
	lease      clientv3.LeaseID
}

// Copy writes every v2 key (not directory) under prefixes into v3 under the
// same key with the same value, as `etcdctl migrate` did, but through the
// API and never overwriting: each put in a transaction whose compares
// require the key not to exist (create revision 0). A key with a TTL gets a
// shared lease of its remaining TTL, bucketed by expiry (leases.Pool), so it
// expires in v3 no earlier than it would have in v2, and at most a bucket
// width later. Transactions hold up to MaxTxnOps keys; after a failed one a
// read-only transaction reads the keys back: absent ones go into the next try, identical
// ones count as copied, others are conflicts.
//
// The writers must be stopped first (the copy reads v2 directory by
// directory, with no revision to pin). An interrupted copy (ctx cancelled,
// the process killed) is finished by Copy with Resume; the report's Written
// then lists every key of the copy, those of the earlier run included.
func Copy(ctx context.Context, kapi client.KeysAPI, v3 *clientv3.Client, prefixes []string, opts CopyOptions) (CopyReport, error) {
	o := opts
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = leases.DefaultMaxTxnOps
	}
	if o.Concurrency <= 0 {
		o.Concurrency = leases.DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	clean := make([]string, len(prefixes))
	for i, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return CopyReport{}, fmt.Errorf("copy v2 to v3: %w", err)
		}
		clean[i] = p
	}
	if !o.Resume {
		found, err := Conflicts(ctx, v3, clean, 20)
		if err != nil {
			return CopyReport{}, fmt.Errorf("copy v2 to v3: %w", err)
		}
		if len(found) > 0 {
			return CopyReport{Conflicts: found}, fmt.Errorf("copy v2 to v3: %w (nothing written): %q", ErrConflict, found)
		}
	}
	c := &copier{v3: v3, o: o, pool: leases.NewPool(v3, o.BucketWidth, o.KeysPerLease),
		limit: leases.NewOpsLimit(o.MaxTxnOps, "copy v2 to v3", o.Logger)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []item, o.Concurrency)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for b := range batches {
				if err := c.copy(ctx, b); err != nil {
					c.fail(err)
					cancel()
				}
			}
		})
	}
	walkErr := c.walk(ctx, kapi, clean, batches)
	close(batches)
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Leases = c.pool.Granted()
	err := c.err
	if err == nil {
		err = walkErr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && len(c.rep.Conflicts) > 0 {
		err = fmt.Errorf("%w: %d keys hold another value, not overwritten: %q", ErrConflict, len(c.rep.Conflicts), head(c.rep.Conflicts, 20))
	}
	if err != nil {
		return c.rep, fmt.Errorf("copy v2 to v3: %w", err)
	}
	o.Logger.Info("v2 keys copied to v3", "prefixes", clean, "keys", c.rep.Keys, "copied", c.rep.Copied,
		"already_copied", c.rep.AlreadyCopied, "leased", c.rep.Leased, "leases", len(c.rep.Leases))
	return c.rep, nil
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }

type copier struct {
	v3   *clientv3.Client
	o    CopyOptions
	pool *leases.Pool

	limit *leases.OpsLimit

	mu  sync.Mutex
	rep CopyReport
	err error
}

func (c *copier) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *copier) walk(ctx context.Context, kapi client.KeysAPI, prefixes []string, out chan<- []item) error {
	var batch []item
	send := func() error {
		select {
		case out <- batch:
			batch = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, p := range prefixes {
		err := walk(ctx, kapi, p, c.o.Timeout, func(n *client.Node) error {
			if n.Dir {
				return nil
			}
			it := item{key: n.Key, value: n.Value, index: n.ModifiedIndex}
			if hasTTL(n) {
				it.ttl = max(remainingTTL(n, time.Now()), time.Second)
			}
			c.mu.Lock()
			c.rep.Keys++
			c.mu.Unlock()
			if batch = append(batch, it); len(batch) >= c.limit.Ops() {
				return send()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read v2 %q: %w", p, err)
		}
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

func (c *copier) copy(ctx context.Context, batch []item) error {
	if c.o.Resume {
		var err error
		if batch, err = c.skipCopied(ctx, batch); err != nil {
			return err
		}
	}
	return leases.InBatches(ctx, batch, c.limit, c.txn)
}

// skipCopied reads a batch's keys from v3 before a resumed copy writes
// them, so that keys an earlier run copied cost no lease: it returns those
// still to write.
func (c *copier) skipCopied(ctx context.Context, batch []item) ([]item, error) {
	ops := make([]clientv3.Op, len(batch))
	for i, it := range batch {
		ops[i] = clientv3.OpGet(it.key)
	}
	resps, err := txnGets(ctx, c.v3, ops)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var todo []item
	for i, it := range batch {
		kvs := resps[i]
		switch {
		case len(kvs) == 0:
			todo = append(todo, it)
		case bytes.Equal(kvs[0].Value, []byte(it.value)):
			c.alreadyCopied(it, kvs[0].ModRevision, kvs[0].Lease)
		default:
			c.rep.Conflicts = append(c.rep.Conflicts, it.key)
		}
	}
	return todo, nil
}

// alreadyCopied records a key found in v3 with its v2 value. c.mu is held.
func (c *copier) alreadyCopied(it item, modRev, lease int64) {
	c.rep.AlreadyCopied++
	c.rep.Written = append(c.rep.Written, KeyRev{Key: it.key, ModRevision: modRev, Lease: lease, V2Index: it.index})
	if lease != 0 {
		c.rep.Leased++
	}
}

// txn tries one guarded transaction and returns the keys to try again.
func (c *copier) txn(ctx context.Context, batch []item) ([]item, error) {
	cmps := make([]clientv3.Cmp, len(batch))
	puts := make([]clientv3.Op, len(batch))
	gets := make([]clientv3.Op, len(batch))
	for i := range batch {
		it := &batch[i]
		var opts []clientv3.OpOption
		if it.ttl > 0 {
			if it.lease == 0 {
				id, err := c.pool.Lease(ctx, it.ttl)
				if err != nil {
					return nil, err
				}
				it.lease = id
			}
			opts = append(opts, clientv3.WithLease(it.lease))
		}
		cmps[i] = clientv3.Compare(clientv3.CreateRevision(it.key), "=", 0)
		puts[i] = clientv3.OpPut(it.key, it.value, opts...)
		gets[i] = clientv3.OpGet(it.key)
	}
	var resp *clientv3.TxnResponse
	err := leases.Retry(ctx, func() (err error) {
		tctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
		defer cancel()
		resp, err = c.v3.Txn(tctx).If(cmps...).Then(puts...).Commit()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("guarded put of %d keys from %q: %w", len(batch), batch[0].key, err)
	}
	var back [][]*mvccpb.KeyValue
	if !resp.Succeeded {
		// Some key exists: read the batch back (rare, so cheaper than an
		// else branch carried by every transaction).
		if back, err = txnGets(ctx, c.v3, gets); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.Succeeded {
		for _, it := range batch {
			c.rep.Written = append(c.rep.Written, KeyRev{Key: it.key, ModRevision: resp.Header.Revision, Lease: int64(it.lease), V2Index: it.index})
			if it.lease != 0 {
				c.rep.Leased++
			}
		}
		c.rep.Copied += len(batch)
		if afterCommit != nil {
			afterCommit()
		}
		return nil, nil
	}
	var again []item
	for i, kvs := range back {
		switch {
		case len(kvs) == 0:
			again = append(again, batch[i])
		case bytes.Equal(kvs[0].Value, []byte(batch[i].value)):
			c.alreadyCopied(batch[i], kvs[0].ModRevision, kvs[0].Lease)
		default:
			c.rep.Conflicts = append(c.rep.Conflicts, batch[i].key)
		}
	}
	return again, nil
}

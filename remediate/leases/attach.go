// Package leases attaches leases to keys that lost them: the events that
// `etcdctl migrate` copied from v2 without their TTLs (it put every key with
// no lease, etcd@v3.4.0:etcdctl/ctlv3/command/migrate_command.go), which
// then never expire. This is the seed's step 11 done safely: where
// Kubernetes' first attachlease re-put every key blindly under one lease,
// each re-put here is guarded by the key's mod revision in a transaction (as
// OpenShift's `oc adm migrate etcd-ttl` did), so a write the apiserver makes
// meanwhile is never overwritten; a key that changed is re-read and handled
// again.
package leases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defaults of Options.
const (
	DefaultTTL         = time.Hour // the apiserver's --event-ttl default
	DefaultPageSize    = 10000     // full key-values per range page
	DefaultConcurrency = 4
	DefaultMaxTxnOps   = 128 // etcd's default --max-txn-ops
	DefaultTimeout     = 30 * time.Second
)

// Options tune Attach. Zero values take the defaults.
type Options struct {
	// TTL each key gets from the moment it is attached (default 1 h).
	TTL time.Duration
	// BucketWidth and KeysPerLease shape the shared leases (see Pool).
	BucketWidth  time.Duration
	KeysPerLease int
	// PageSize is how many full key-values one range page reads. Pages are
	// read at one pinned revision.
	PageSize int64
	// Concurrency is how many transactions are in flight.
	Concurrency int
	// MaxTxnOps is the server's --max-txn-ops: one transaction carries that
	// many compares and as many puts. A server that refuses it ("too many
	// operations in txn request") makes Attach halve it and go on.
	MaxTxnOps int
	// Timeout bounds every request (default 30 s).
	Timeout time.Duration
	// Logger receives progress (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = DefaultMaxTxnOps
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Report says what Attach did.
type Report struct {
	// Revision is the revision the walk was pinned at (the last one when a
	// compaction made it move on).
	Revision int64
	// Keys counts the keys walked under the prefix.
	Keys int
	// AlreadyLeased counts keys that had a lease when read (or had gained
	// one when re-read after a concurrent change).
	AlreadyLeased int
	// Attached counts keys re-put with a lease.
	Attached int
	// Retried counts keys whose guarded re-put failed because they changed
	// in between, and were re-read and handled again.
	Retried int
	// Gone counts keys deleted by someone else before their re-put.
	Gone int
	// Leases are the leases granted, oldest first.
	Leases []clientv3.LeaseID
}

// beforeTxn, when set (by tests only), runs before each guarded
// transaction with its keys: a write there must make the transaction fail
// and the key be handled again, every time.
var beforeTxn func(ctx context.Context, keys []string)

// pending is a key to attach, with the mod revision its re-put is guarded by.
type pending struct {
	key    string
	value  []byte
	modRev int64
	lease  clientv3.LeaseID // taken from the pool on the first try, kept on retries
}

// Attach gives every key under prefix that has no lease a shared lease of
// opts.TTL. Each re-put sits in a transaction whose compares require the
// key's mod revision to be the one read, so the value it puts back is the
// key's current one and nothing written meanwhile is lost. (Sending the
// value read costs less than ignore_value, which makes the server read
// every previous value from its backend.) When a transaction
// fails, a read-only transaction reads its keys back: unchanged ones go into the
// next batch, changed ones are handled again from what was read (still
// without a lease: retried; leased meanwhile: left alone; deleted: gone).
//
// Keys are read as full key-values (never keys-only: 3.7's keys-only answers
// report no lease) in pages at one pinned revision. It is idempotent: a
// second run finds every key leased and attaches nothing. Cancelling ctx
// stops it between transactions; every committed transaction stays, so a
// run again finishes the job.
func Attach(ctx context.Context, cli *clientv3.Client, prefix string, opts Options) (Report, error) {
	o := opts.withDefaults()
	if prefix == "" {
		return Report{}, errors.New("attach leases: empty prefix (refusing to walk the whole keyspace)")
	}
	a := &attacher{cli: cli, o: o, pool: NewPool(cli, o.BucketWidth, o.KeysPerLease),
		limit: NewOpsLimit(o.MaxTxnOps, "attach leases", o.Logger)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []pending, o.Concurrency)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for b := range batches {
				if err := a.attach(ctx, b); err != nil {
					a.fail(err)
					cancel()
				}
			}
		})
	}
	walkErr := a.walk(ctx, prefix, batches)
	close(batches)
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rep.Leases = a.pool.Granted()
	err := a.err
	if err == nil {
		err = walkErr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return a.rep, fmt.Errorf("attach leases under %q: %w", prefix, err)
	}
	o.Logger.Info("event leases attached", "prefix", prefix, "keys", a.rep.Keys, "attached", a.rep.Attached,
		"already_leased", a.rep.AlreadyLeased, "retried", a.rep.Retried, "gone", a.rep.Gone, "leases", len(a.rep.Leases))
	return a.rep, nil
}

type attacher struct {
	cli  *clientv3.Client
	o    Options
	pool *Pool

	limit *OpsLimit

	mu  sync.Mutex
	rep Report
	err error
}

func (a *attacher) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

// walk pages through prefix at one revision and sends the unleased keys in
// batches. A compaction past the pinned revision moves the walk to the
// current revision from the key it had reached: keys already behind it were
// handled, keys ahead are read fresh.
func (a *attacher) walk(ctx context.Context, prefix string, out chan<- []pending) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	var rev int64
	var batch []pending
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(a.o.PageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		var resp *clientv3.GetResponse
		err := Retry(ctx, func() (err error) {
			rctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
			defer cancel()
			resp, err = a.cli.Get(rctx, key, opts...)
			return err
		})
		if errors.Is(err, rpctypes.ErrCompacted) {
			a.o.Logger.Warn("attach leases: revision compacted during the walk; continuing at the current one", "revision", rev)
			rev = 0
			continue
		}
		if err != nil {
			return fmt.Errorf("range from %q at revision %d: %w", key, rev, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		leased := 0
		for _, kv := range resp.Kvs {
			if kv.Lease != 0 {
				leased++
				continue
			}
			batch = append(batch, pending{key: string(kv.Key), value: kv.Value, modRev: kv.ModRevision})
			if len(batch) >= a.limit.Ops() {
				select {
				case out <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = nil
			}
		}
		a.mu.Lock()
		a.rep.Keys += len(resp.Kvs)
		a.rep.AlreadyLeased += leased
		a.rep.Revision = rev
		a.mu.Unlock()
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	if len(batch) > 0 {
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// attach re-puts one batch with leases, guarded, until every key of it is
// attached, leased by someone else, or gone.
func (a *attacher) attach(ctx context.Context, batch []pending) error {
	return InBatches(ctx, batch, a.limit, a.txn)
}

// txn tries one guarded transaction and returns the keys to try again.
func (a *attacher) txn(ctx context.Context, batch []pending) ([]pending, error) {
	cmps := make([]clientv3.Cmp, len(batch))
	puts := make([]clientv3.Op, len(batch))
	gets := make([]clientv3.Op, len(batch))
	for i := range batch {
		p := &batch[i]
		if p.lease == 0 {
			id, err := a.pool.Lease(ctx, a.o.TTL)
			if err != nil {
				return nil, err
			}
			p.lease = id
		}
		cmps[i] = clientv3.Compare(clientv3.ModRevision(p.key), "=", p.modRev)
		puts[i] = clientv3.OpPut(p.key, string(p.value), clientv3.WithLease(p.lease))
		gets[i] = clientv3.OpGet(p.key)
	}
	if beforeTxn != nil {
		keys := make([]string, len(batch))
		for i, p := range batch {
			keys[i] = p.key
		}
		beforeTxn(ctx, keys)
	}
	var resp *clientv3.TxnResponse
	err := Retry(ctx, func() (err error) {
		tctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
		defer cancel()
		resp, err = a.cli.Txn(tctx).If(cmps...).Then(puts...).Commit()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("guarded re-put of %d keys from %q: %w", len(batch), batch[0].key, err)
	}
	if resp.Succeeded {
		a.mu.Lock()
		a.rep.Attached += len(batch)
		a.mu.Unlock()
		return nil, nil
	}
	// Some key changed: read the batch back (in one transaction, so at one
	// revision) and sort it. A failure is rare, so reading here costs less
	// than an else branch carried by every transaction.
	var back *clientv3.TxnResponse
	err = Retry(ctx, func() (err error) {
		rctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
		defer cancel()
		back, err = a.cli.Txn(rctx).Then(gets...).Commit()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("re-read %d keys from %q: %w", len(batch), batch[0].key, err)
	}
	var again []pending
	var retried, leased, gone, attached int
	for i, r := range back.Responses {
		kvs := r.GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			gone++
			continue
		}
		kv := (*mvccpb.KeyValue)(kvs[0])
		switch {
		case kv.Lease == int64(batch[i].lease) && kv.ModRevision != batch[i].modRev:
			attached++ // an earlier try that timed out was applied after all
		case kv.Lease != 0:
			leased++
		case kv.ModRevision != batch[i].modRev:
			retried++
			again = append(again, pending{key: batch[i].key, value: kv.Value, modRev: kv.ModRevision, lease: batch[i].lease})
		default:
			again = append(again, batch[i])
		}
	}
	a.mu.Lock()
	a.rep.Retried += retried
	a.rep.Attached += attached
	a.rep.AlreadyLeased += leased
	a.rep.Gone += gone
	a.mu.Unlock()
	return again, nil
}

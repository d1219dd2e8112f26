package leases

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultBucketWidth is how far apart two expiries may be and still share a
// lease: the apiserver's --lease-reuse-duration-seconds default (60 s).
const DefaultBucketWidth = time.Minute

// DefaultKeysPerLease caps the keys on one lease, as the apiserver's lease
// manager does (LeaseMaxObjectCount, 1,000): revoking or expiring a lease
// deletes its keys in one transaction, which must stay small.
const DefaultKeysPerLease = 1000

// grantTimeout bounds one lease grant.
const grantTimeout = 30 * time.Second

// Pool hands out shared leases bucketed by expiry, the way the Kubernetes
// apiserver's lease manager does
// (staging/src/k8s.io/apiserver/pkg/storage/etcd3/lease_manager.go): every
// key whose expiry falls in the same bucket of BucketWidth shares one lease
// (until it holds KeysPerLease keys), and that lease expires at the end of
// the bucket. A key therefore never expires before its TTL and at most one
// bucket width after it.
//
// A grant is a raft write; so that callers do not all wait for it each
// time a lease fills up, the next lease of a bucket is granted in the
// background once the current one is half full. It is safe for concurrent use.
type Pool struct {
	cli          *clientv3.Client
	width        time.Duration
	keysPerLease int
	now          func() time.Time

	mu      sync.Mutex
	buckets map[int64]*bucket
	used    []*grant // grants that were handed to a key, in order
}

type bucket struct {
	end  time.Time
	cur  *grant
	keys int    // on cur
	next *grant // granted ahead, nil until cur is half full
}

// grant is a lease being granted; done closes when id or err is set.
type grant struct {
	done chan struct{}
	id   clientv3.LeaseID
	err  error
}

// NewPool returns a pool granting leases through cli. A width of 0 means
// DefaultBucketWidth, keysPerLease 0 means DefaultKeysPerLease.
func NewPool(cli *clientv3.Client, width time.Duration, keysPerLease int) *Pool {
	if width <= 0 {
		width = DefaultBucketWidth
	}
	if keysPerLease <= 0 {
		keysPerLease = DefaultKeysPerLease
	}
	return &Pool{cli: cli, width: width, keysPerLease: keysPerLease, now: time.Now, buckets: map[int64]*bucket{}}
}

// Lease returns a lease for one key that must live at least ttl from now.
// A ttl under one second counts as one second.
func (p *Pool) Lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	ttl = max(ttl, time.Second)
	p.mu.Lock()
	now := p.now()
	n := (now.Add(ttl).UnixNano() + int64(p.width) - 1) / int64(p.width) // the bucket ending at or after the expiry
	b := p.buckets[n]
	if b == nil {
		b = &bucket{end: time.Unix(0, n*int64(p.width))}
		b.cur = p.start(ctx, b.end)
		p.buckets[n] = b
		p.dropEnded(now)
	}
	if b.keys >= p.keysPerLease {
		if b.next == nil {
			b.next = p.start(ctx, b.end)
		}
		b.cur, b.next, b.keys = b.next, nil, 0
	}
	if b.keys++; b.keys == 1 {
		p.used = append(p.used, b.cur)
	}
	if b.keys == p.keysPerLease/2 && b.next == nil {
		b.next = p.start(ctx, b.end)
	}
	g := b.cur
	p.mu.Unlock()
	select {
	case <-g.done:
		return g.id, g.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// start grants a lease ending at end (rounded up to whole seconds: never
// early) in the background. The grant serves every caller of its bucket, so
// one caller's cancellation does not cancel it; a deadline bounds it. p.mu
// is held.
func (p *Pool) start(ctx context.Context, end time.Time) *grant {
	g := &grant{done: make(chan struct{})}
	secs := int64((end.Sub(p.now()) + time.Second - 1) / time.Second)
	go func() {
		defer close(g.done)
		base := context.WithoutCancel(ctx)
		var resp *clientv3.LeaseGrantResponse
		err := Retry(base, func() (err error) {
			gctx, cancel := context.WithTimeout(base, grantTimeout)
			defer cancel()
			resp, err = p.cli.Grant(gctx, secs)
			return err
		})
		if err != nil {
			g.err = fmt.Errorf("grant a lease of %ds: %w", secs, err)
			return
		}
		g.id = resp.ID
	}()
	return g
}

// dropEnded forgets buckets that ended: no key can land in them any more.
// p.mu is held.
func (p *Pool) dropEnded(now time.Time) {
	for k, b := range p.buckets {
		if b.end.Before(now) {
			delete(p.buckets, k)
		}
	}
}

// Granted returns the leases handed to at least one key, in order. A lease
// granted ahead and never used is not listed; it expires on its own.
func (p *Pool) Granted() []clientv3.LeaseID {
	p.mu.Lock()
	used := append([]*grant(nil), p.used...)
	p.mu.Unlock()
	var out []clientv3.LeaseID
	for _, g := range used {
		select {
		case <-g.done:
			if g.err == nil {
				out = append(out, g.id)
			}
		default: // still being granted: no key holds it yet
		}
	}
	return out
}

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

// Pool hands out shared leases bucketed by expiry, the way the Kubernetes
// apiserver's lease manager does
// (staging/src/k8s.io/apiserver/pkg/storage/etcd3/lease_manager.go): every
// key whose expiry falls in the same bucket of BucketWidth shares one lease
// (until it holds KeysPerLease keys), and that lease expires at the end of
// the bucket. A key therefore never expires before its TTL and at most one
// bucket width after it. It is safe for concurrent use.
type Pool struct {
	cli          *clientv3.Client
	width        time.Duration
	keysPerLease int
	now          func() time.Time

	mu      sync.Mutex
	buckets map[int64]*bucket
	granted []clientv3.LeaseID
}

type bucket struct {
	id   clientv3.LeaseID
	keys int
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

// Lease returns a lease for one key that must live at least ttl from now,
// granting a new one when the key's bucket has none or its lease is full.
// A ttl under one second counts as one second.
func (p *Pool) Lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	ttl = max(ttl, time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	expiry := now.Add(ttl)
	n := (expiry.UnixNano() + int64(p.width) - 1) / int64(p.width) // bucket whose end is at or after expiry
	b := p.buckets[n]
	if b != nil && b.keys < p.keysPerLease {
		b.keys++
		return b.id, nil
	}
	end := time.Unix(0, n*int64(p.width))
	secs := int64((end.Sub(now) + time.Second - 1) / time.Second) // round up: never expire early
	// Granting under the lock keeps one lease per bucket; grants are rare
	// (one per KeysPerLease keys) so the wait is short.
	resp, err := p.cli.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("grant a lease of %ds: %w", secs, err)
	}
	p.buckets[n] = &bucket{id: resp.ID, keys: 1}
	p.granted = append(p.granted, resp.ID)
	// Buckets that ended are of no use any more.
	for k := range p.buckets {
		if k*int64(p.width) < now.UnixNano() {
			delete(p.buckets, k)
		}
	}
	return resp.ID, nil
}

// Granted returns the leases the pool granted, oldest first.
func (p *Pool) Granted() []clientv3.LeaseID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]clientv3.LeaseID(nil), p.granted...)
}

package collectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxJoinLeases bounds the lease join: beyond it, one TimeToLive per lease
// costs more than walking the keys.
const maxJoinLeases = 20000

// maxLeasedHashes bounds the leased-key fingerprints kept for sampling on
// 3.7+ (8 bytes each: 8 MB at the bound).
const maxLeasedHashes = 1 << 20

// joinAfterFirstCount, when set (by tests only), runs between the join's
// first count and its lease listing: a write there must make the join give
// way to the walk, and a test needs that write to land there every time.
var joinAfterFirstCount func(context.Context)

// leaseJoin computes lease coverage from the leases' side: count the keys
// under prefix (count-only, at revision R), list every lease and the keys
// attached to it (TimeToLive with keys, which also gives the TTLs), and
// count again. When the second count still answers at revision R, nothing
// was written in between and the join is exact at R. It returns nil (and no
// error) when it cannot be exact or cannot be done (the store moved, the
// leases cannot be listed or read under RBAC, too many leases): the caller
// then walks the keys.
//
// With wantHashes it also returns the sorted FNV-64a fingerprints of the
// leased keys (nil beyond maxLeasedHashes), so that unleased keys can be
// sampled from keys-only pages on 3.7+, whose keys-only answers carry no
// lease, instead of reading every value.
func leaseJoin(ctx context.Context, cli *clientv3.Client, prefix string, timeout time.Duration, wantHashes bool) (*LeaseCoverage, []uint64, error) {
	count := func() (*clientv3.GetResponse, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := cli.Get(cctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", DisplayKey([]byte(prefix)), rpcError(cctx, err))
		}
		return resp, nil
	}
	before, err := count()
	if err != nil {
		return nil, nil, err
	}
	if joinAfterFirstCount != nil {
		joinAfterFirstCount(ctx)
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	list, err := cli.Leases(lctx)
	cancel()
	switch {
	case err != nil && (errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(rpcError(ctx, err), ErrNotSupported)):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("list leases: %w", rpcError(ctx, err))
	case len(list.Leases) > maxJoinLeases:
		return nil, nil, nil
	}
	type attached struct {
		keys   int64
		ttl    int64
		err    error
		hashes []uint64
	}
	got := make([]attached, len(list.Leases))
	next := make(chan int)
	var wg sync.WaitGroup
	bprefix := []byte(prefix)
	for range min(ttlProbeWorkers, len(list.Leases)) {
		wg.Go(func() {
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				resp, err := cli.TimeToLive(cctx, list.Leases[i].ID, clientv3.WithAttachedKeys())
				cancel()
				if err != nil {
					got[i].err = err
					continue
				}
				got[i].ttl = resp.TTL
				for _, k := range resp.Keys {
					if bytes.HasPrefix(k, bprefix) {
						got[i].keys++
						if wantHashes {
							got[i].hashes = append(got[i].hashes, keyHash(k))
						}
					}
				}
			}
		})
	}
	for i := range list.Leases {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("lease join: %w", err)
	}
	lc := &LeaseCoverage{
		Prefix: DisplayKey(bprefix), Revision: before.Header.Revision, Keys: before.Count,
		Method: MethodLeaseJoin, TTLBuckets: map[string]int64{},
	}
	for _, a := range got {
		if a.err != nil {
			if errors.Is(a.err, rpctypes.ErrPermissionDenied) || errors.Is(a.err, rpctypes.ErrLeaseNotFound) {
				return nil, nil, nil // RBAC hides some keys, or a lease went away: walk instead
			}
			return nil, nil, fmt.Errorf("lease join: TimeToLive: %w", rpcError(ctx, a.err))
		}
		if a.keys == 0 {
			continue
		}
		lc.Leased += a.keys
		lc.Leases++
		lc.TTLBuckets[ttlBucket(a.ttl)]++
	}
	after, err := count()
	if err != nil {
		return nil, nil, err
	}
	if after.Header.Revision != before.Header.Revision || after.Count != before.Count || lc.Leased > lc.Keys {
		return nil, nil, nil
	}
	lc.Unleased = lc.Keys - lc.Leased
	lc.TTLProbed = lc.Leases
	lc.Ratio = 1
	if lc.Keys > 0 {
		lc.Ratio = float64(lc.Leased) / float64(lc.Keys)
	}
	if len(lc.TTLBuckets) == 0 {
		lc.TTLBuckets = nil
	}
	var hashes []uint64
	if wantHashes && lc.Leased <= maxLeasedHashes {
		hashes = make([]uint64, 0, lc.Leased)
		for _, a := range got {
			hashes = append(hashes, a.hashes...)
		}
		slices.Sort(hashes)
	}
	return lc, hashes, nil
}

func keyHash(k []byte) uint64 {
	h := fnv.New64a()
	h.Write(k)
	return h.Sum64()
}

// sampleUnleased walks keys-only pages at revision rev until it has need
// keys without a lease. A key is leased when its KeyValue says so or, on
// servers whose keys-only answers drop the lease, when its fingerprint is
// among the leased ones (a collision can only hide a sample, never make a
// leased key look unleased).
func sampleUnleased(ctx context.Context, cli *clientv3.Client, prefix string, page, rev, need int64, leased []uint64) ([]string, error) {
	var out []string
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	for int64(len(out)) < need {
		resp, err := cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithKeysOnly(),
			clientv3.WithRev(rev), clientv3.WithSerializable())
		if err != nil {
			return nil, fmt.Errorf("range %s from %s at revision %d: %w", DisplayKey([]byte(prefix)), DisplayKey([]byte(key)), rev, rpcError(ctx, err))
		}
		for _, kv := range resp.Kvs {
			if kv.Lease != 0 {
				continue
			}
			if _, found := slices.BinarySearch(leased, keyHash(kv.Key)); found {
				continue
			}
			if out = append(out, DisplayKey(kv.Key)); int64(len(out)) >= need {
				break
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return out, nil
}

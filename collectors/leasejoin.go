package collectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxJoinLeases bounds the lease join: beyond it, one TimeToLive per lease
// costs more than walking the keys.
const maxJoinLeases = 20000

// leaseJoin computes lease coverage from the leases' side: count the keys
// under prefix (count-only, at revision R), list every lease and the keys
// attached to it (TimeToLive with keys, which also gives the TTLs), and
// count again. When the second count still answers at revision R, nothing
// was written in between and the join is exact at R. It returns nil (and no
// error) when it cannot be exact or cannot be done (the store moved, the
// leases cannot be listed or read under RBAC, too many leases): the caller
// then walks the keys.
func leaseJoin(ctx context.Context, cli *clientv3.Client, prefix string, timeout time.Duration) (*LeaseCoverage, error) {
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
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	list, err := cli.Leases(lctx)
	cancel()
	switch {
	case err != nil && (errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(rpcError(ctx, err), ErrNotSupported)):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list leases: %w", rpcError(ctx, err))
	case len(list.Leases) > maxJoinLeases:
		return nil, nil
	}
	type attached struct {
		keys int64
		ttl  int64
		err  error
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
		return nil, fmt.Errorf("lease join: %w", err)
	}
	lc := &LeaseCoverage{
		Prefix: DisplayKey(bprefix), Revision: before.Header.Revision, Keys: before.Count,
		Method: MethodLeaseJoin, TTLBuckets: map[string]int64{},
	}
	for _, a := range got {
		if a.err != nil {
			if errors.Is(a.err, rpctypes.ErrPermissionDenied) || errors.Is(a.err, rpctypes.ErrLeaseNotFound) {
				return nil, nil // RBAC hides some keys, or a lease went away: walk instead
			}
			return nil, fmt.Errorf("lease join: TimeToLive: %w", rpcError(ctx, a.err))
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
		return nil, err
	}
	if after.Header.Revision != before.Header.Revision || after.Count != before.Count || lc.Leased > lc.Keys {
		return nil, nil
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
	return lc, nil
}

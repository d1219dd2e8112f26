package collectors

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

func leaseCoverageCollector() Registration {
	return Registration{
		Name:  "event_leases",
		Scope: ScopeCluster,
		Cost:  CostPrefixWalk,
		Help: "lease coverage of the events prefix: keys, keys with a live lease, keys without (sampled), " +
			"remaining TTLs of the attached leases (lease join, or a paged walk at one pinned revision)",
		Collector: CollectorFunc(collectLeaseCoverage),
	}
}

// Lease coverage limits: distinct leases remembered (Kubernetes shares one
// lease among events written close together, so there are few), and
// TimeToLive probes for the TTL distribution.
const (
	maxTrackedLeases = 10000
	maxTTLProbes     = 1000
	ttlProbeWorkers  = 8
	maxSamples       = 10
	// samplePage is the keys-only page of the sampling walk: every page
	// costs the server a count of the rest of the range, so the fewer the
	// better, and keys-only pages are small (25,000 keys ≈ 1–6 MB).
	samplePage = 25000
)

// Lease coverage methods.
const (
	MethodKeysOnly  = "keys-only"
	MethodFullKV    = "full-kv"
	MethodLeaseJoin = "lease-join"
)

// collectLeaseCoverage first tries the lease join (see leaseJoin): one
// count of the prefix, every lease's attached keys, and a second count that
// proves nothing changed in between. It costs O(keys) on the server instead
// of the paged walk's O(keys²/page) (a limited range counts the whole rest
// of the range on every page), and it does not depend on KeyValue.Lease,
// which 3.7's keys-only ranges drop. Samples of unleased keys then come from
// the first pages of a walk that stops as soon as it has them.
//
// When the store moved during the join (a busy cluster), or the leases
// cannot be listed (RBAC, too many), it falls back to the walk: pages of
// page_size keys at one pinned revision, keeping only counters so memory
// stays flat. A key whose Lease is non-zero at revision R has a live lease
// at R: etcd deletes a lease's keys in the same transaction that revokes it.
//
// The walk reads keys only before 3.7; 3.7+ (or an unknown version) reads
// full key-values, and a keys-only walk that finds no lease at all re-reads
// its first page in full to make sure the server did not drop the field.
func collectLeaseCoverage(ctx context.Context, t *Target) error {
	cli, err := t.Cluster.Client(ctx)
	if err != nil {
		return err
	}
	prefix := t.Cluster.eventsPrefix()
	timeout := t.Cluster.Conn.CommandTimeout
	page := t.Cluster.pageSize()
	method := MethodKeysOnly
	if !allBefore37(t.Cluster.Facts.Members) {
		method = MethodFullKV
	}
	if !t.Cluster.leaseWalk {
		keysOnlyDrops := method == MethodFullKV
		lc, leased, err := leaseJoin(ctx, cli, prefix, timeout, keysOnlyDrops)
		if err != nil {
			return err
		}
		if lc != nil && (!keysOnlyDrops || leased != nil || lc.Unleased == 0) {
			if lc.Unleased > 0 {
				if lc.SampleNoLease, err = sampleUnleased(ctx, cli, prefix, max(page, samplePage), lc.Revision, min(maxSamples, lc.Unleased), leased); err != nil {
					return fmt.Errorf("sample keys without a lease: %w", err)
				}
			}
			t.Cluster.Facts.EventLeases = lc
			return nil
		}
		if lc != nil {
			// Too many leased keys to fingerprint: sample from full pages.
			sample, _, err := walkLeases(ctx, cli, prefix, page, MethodFullKV, timeout, lc.Revision, min(maxSamples, lc.Unleased))
			if err != nil {
				return fmt.Errorf("sample keys without a lease: %w", err)
			}
			lc.SampleNoLease = sample.SampleNoLease
			t.Cluster.Facts.EventLeases = lc
			return nil
		}
	}
	lc, leases, err := walkLeases(ctx, cli, prefix, page, method, timeout, 0, 0)
	if err != nil {
		return err
	}
	if method == MethodKeysOnly && lc.Keys > 0 && lc.Leased == 0 {
		dropped, err := keysOnlyDropsLease(ctx, cli, prefix, lc.Revision, page)
		if err != nil {
			return err
		}
		if dropped {
			if lc, leases, err = walkLeases(ctx, cli, prefix, page, MethodFullKV, timeout, 0, 0); err != nil {
				return err
			}
		}
	}
	lc.TTLBuckets, lc.TTLProbed, err = ttlDistribution(ctx, cli, leases, timeout)
	if err != nil {
		return err
	}
	t.Cluster.Facts.EventLeases = lc
	return nil
}

// walkLeases counts keys and leases under prefix, page by page, at revision
// rev (0: the newest, read linearizably). With stopAt > 0 it stops as soon
// as it has that many samples of keys without a lease; its counts are then
// partial.
func walkLeases(ctx context.Context, cli *clientv3.Client, prefix string, page int64, method string,
	firstPage time.Duration, rev, stopAt int64) (*LeaseCoverage, map[int64]int64, error) {
	lc := &LeaseCoverage{Prefix: DisplayKey([]byte(prefix)), Method: method, Revision: rev}
	leases := map[int64]int64{}
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(page)}
		if method == MethodKeysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		pageCtx, cancel := ctx, context.CancelFunc(func() {})
		if lc.Revision > 0 {
			// Pinned pages are served by any member that has the
			// revision: no ReadIndex round per page.
			opts = append(opts, clientv3.WithRev(lc.Revision), clientv3.WithSerializable())
		} else {
			// The first page is linearizable, so the walk starts at the
			// newest revision; without a quorum it fails fast instead of
			// waiting for etcd's own request timeout.
			pageCtx, cancel = context.WithTimeout(ctx, firstPage)
		}
		resp, err := cli.Get(pageCtx, key, opts...)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("range %s from %s at revision %d (%d keys read): %w",
				lc.Prefix, DisplayKey([]byte(key)), lc.Revision, lc.Keys, rpcError(ctx, err))
		}
		if lc.Revision == 0 {
			lc.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			lc.Keys++
			if kv.Lease != 0 {
				lc.Leased++
				if _, ok := leases[kv.Lease]; ok || len(leases) < maxTrackedLeases {
					leases[kv.Lease]++
				} else {
					lc.LeasesCapped = true
				}
				continue
			}
			lc.Unleased++
			if len(lc.SampleNoLease) < maxSamples {
				lc.SampleNoLease = append(lc.SampleNoLease, DisplayKey(kv.Key))
			}
		}
		if !resp.More || len(resp.Kvs) == 0 || (stopAt > 0 && int64(len(lc.SampleNoLease)) >= stopAt) {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	lc.Leases = int64(len(leases))
	lc.Ratio = 1
	if lc.Keys > 0 {
		lc.Ratio = float64(lc.Leased) / float64(lc.Keys)
	}
	return lc, leases, nil
}

// keysOnlyDropsLease reads the first page both ways and reports whether the
// keys-only answer lost lease IDs the full answer has.
func keysOnlyDropsLease(ctx context.Context, cli *clientv3.Client, prefix string, rev, page int64) (bool, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(page), clientv3.WithRev(rev), clientv3.WithSerializable())
	if err != nil {
		return false, fmt.Errorf("check keys-only leases at revision %d: %w", rev, rpcError(ctx, err))
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != 0 {
			return true, nil
		}
	}
	return false, nil
}

// TTL bucket labels, upper bounds inclusive.
var ttlBuckets = []struct {
	label string
	upTo  time.Duration
}{
	{"expired", 0},
	{"<=1m", time.Minute},
	{"<=10m", 10 * time.Minute},
	{"<=1h", time.Hour},
	{"<=1d", 24 * time.Hour},
	{">1d", 1<<63 - 1},
}

// ttlDistribution asks TimeToLive (without keys) for up to maxTTLProbes of
// the attached leases, those attached to the most keys first, and counts
// leases per remaining-TTL bucket. TimeToLive is served by the leader and
// writes nothing.
func ttlDistribution(ctx context.Context, cli *clientv3.Client, leases map[int64]int64, timeout time.Duration) (map[string]int64, int64, error) {
	if len(leases) == 0 {
		return nil, 0, nil
	}
	ids := slices.Collect(maps.Keys(leases))
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Or(cmp.Compare(leases[b], leases[a]), cmp.Compare(a, b)) })
	ids = ids[:min(len(ids), maxTTLProbes)]
	ttls := make([]int64, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(ttlProbeWorkers, len(ids)) {
		wg.Go(func() {
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				resp, err := cli.TimeToLive(cctx, clientv3.LeaseID(ids[i]))
				if err != nil {
					errs[i] = fmt.Errorf("TimeToLive lease %x: %w", ids[i], rpcError(cctx, err))
				} else {
					ttls[i] = resp.TTL
				}
				cancel()
			}
		})
	}
	for i := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("TTL distribution: %w", err)
	}
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	buckets := map[string]int64{}
	for _, ttl := range ttls {
		buckets[ttlBucket(ttl)]++
	}
	return buckets, int64(len(ids)), nil
}

// ttlBucket names the bucket of a remaining TTL in seconds (-1: expired).
func ttlBucket(ttl int64) string {
	if ttl < 0 {
		return "expired"
	}
	d := time.Duration(ttl) * time.Second
	for _, b := range ttlBuckets[1:] {
		if d <= b.upTo {
			return b.label
		}
	}
	return ttlBuckets[len(ttlBuckets)-1].label
}

// allBefore37 is true when every member that told its version runs a
// version before 3.7 and at least one did.
func allBefore37(members []MemberFacts) bool {
	seen := false
	for _, m := range members {
		if m.Version == nil {
			continue
		}
		if v, err := etcdversion.Parse(m.Version.Server); err != nil || v.AtLeast(3, 7) {
			return false
		}
		seen = true
	}
	return seen
}

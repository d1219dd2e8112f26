package remediate

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// coveragePage is how many full key-values one coverage read pages through.
const coveragePage = 5000

// leaseGap is what a coverage walk found under a prefix.
type leaseGap struct {
	Keys     int      `json:"keys"`
	Unleased int      `json:"unleased"`
	Sample   []string `json:"sample,omitempty"`
}

// attachData is what the journal keeps of an attach-leases step.
type attachData struct {
	Prefix string        `json:"prefix"`
	Report leases.Report `json:"report"`
	After  leaseGap      `json:"after"`
}

// attachLeases runs an attach-leases step: every member healthy, then
// leases.Attach (guarded re-puts; idempotent, so a resumed run only handles
// what is still unleased), then a full walk that must find every key under
// the prefix leased. The report goes into the step's journal record.
func (cr *clusterRun) attachLeases(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	if s.Prefix == "" {
		return fmt.Errorf("attach-leases step without a prefix (refusing to walk the whole keyspace)")
	}
	if err := cr.allHealthy(ctx); err != nil {
		return err
	}
	rep, err := leases.Attach(ctx, cr.pr.cli, s.Prefix, leases.Options{Timeout: cr.pr.conn.CommandTimeout, Logger: cr.e.logger()})
	data := attachData{Prefix: s.Prefix, Report: rep}
	rec.Data = mustJSON(data)
	if err != nil {
		return err
	}
	rec.Note = fmt.Sprintf("%s: %d keys, %d attached, %d already leased, %d retried after a concurrent write, %d gone, %d leases",
		s.Prefix, rep.Keys, rep.Attached, rep.AlreadyLeased, rep.Retried, rep.Gone, len(rep.Leases))
	cr.e.printf("cluster %s  attach-leases %s", cr.c.Name, rec.Note)
	gap, err := cr.leaseGap(ctx, s.Prefix)
	data.After = gap
	rec.Data = mustJSON(data)
	if err != nil {
		return fmt.Errorf("lease coverage after attaching: %w", err)
	}
	if gap.Unleased > 0 {
		return fmt.Errorf("after attaching, %d of %d keys under %s still carry no lease (e.g. %v)", gap.Unleased, gap.Keys, s.Prefix, gap.Sample)
	}
	return nil
}

// allHealthy: every member of the plan answers with a leader and no alarm.
func (cr *clusterRun) allHealthy(ctx context.Context) error {
	return cr.pr.waitFor(ctx, cr.memberTimeout(), "every member healthy", func(ctx context.Context) error {
		for id, u := range cr.urls {
			if st := cr.pr.member(ctx, u); st.healthy() != nil {
				return fmt.Errorf("member %x (%s): %w", id, u, st.healthy())
			}
		}
		return nil
	})
}

// leaseGap walks every key under prefix as full key-values (3.7's keys-only
// ranges carry no lease) at one revision, counting those without a lease.
func (cr *clusterRun) leaseGap(ctx context.Context, prefix string) (leaseGap, error) {
	var g leaseGap
	end := clientv3.GetPrefixRangeEnd(prefix)
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(coveragePage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
		resp, err := cr.pr.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			return g, fmt.Errorf("range %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			g.Keys++
			if kv.Lease == 0 {
				g.Unleased++
				if len(g.Sample) < 3 {
					g.Sample = append(g.Sample, string(kv.Key))
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return g, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

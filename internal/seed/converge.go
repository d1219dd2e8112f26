package seed

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Converged waits until every endpoint reports the same applied raft index
// and revision. A write returns once a quorum has it, so a slow follower
// may still miss the last keys seeded: whoever then reads a member's own
// store (serializable reads, as the collectors do), or takes the others
// down, must wait for this first.
func Converged(ctx context.Context, cli *clientv3.Client, endpoints []string) error {
	last := "no status yet"
	for {
		var idx, rev []int64
		for _, ep := range endpoints {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, ep)
			cancel()
			if err != nil {
				last = fmt.Sprintf("%s: %v", ep, err)
				break
			}
			idx, rev = append(idx, int64(st.RaftAppliedIndex)), append(rev, st.Header.Revision)
		}
		if len(idx) == len(endpoints) {
			if same(idx) && same(rev) {
				return nil
			}
			last = fmt.Sprintf("applied %v, revisions %v", idx, rev)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("members did not converge: %s: %w", last, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func same(xs []int64) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

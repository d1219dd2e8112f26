package etcdtest

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// WaitConverged waits until every running member has applied the same raft
// index and reports the same revision. A write returns once a quorum has
// it, so a slow follower may still miss it: a test that writes and then
// kills or pauses the others must wait for this first, or the survivor
// may hold fewer keys than were written.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	var eps []string
	for _, m := range c.Members {
		if m.Running() && !m.Paused() {
			eps = append(eps, m.ClientURL)
		}
	}
	cfg, err := c.clientConfig(eps...)
	if err != nil {
		return err
	}
	cfg.Logger = zap.NewNop()
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	last := "no status yet"
	for {
		var idx, rev []int64
		for _, ep := range eps {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, ep)
			cancel()
			if err != nil {
				last = fmt.Sprintf("%s: %v", ep, err)
				break
			}
			idx, rev = append(idx, int64(st.RaftAppliedIndex)), append(rev, st.Header.Revision)
		}
		if len(idx) == len(eps) && same(idx) && same(rev) {
			return nil
		}
		if len(idx) == len(eps) {
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

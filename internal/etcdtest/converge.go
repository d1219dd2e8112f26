package etcdtest

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/internal/seed"
)

// WaitConverged waits until every running, unpaused member has applied the
// same raft index and reports the same revision (seed.Converged): a test
// that writes and then kills or pauses the others, or compares what each
// member holds, must wait for this first.
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
	return seed.Converged(ctx, cli, eps)
}

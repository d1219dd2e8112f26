package collectors

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func v3Collector() Registration {
	return Registration{
		Name:      "v3",
		Scope:     ScopeMember,
		Help:      "v3 key count and /registry key count at one revision, as this member stores them (count-only ranges)",
		Collector: CollectorFunc(collectV3),
	}
}

// collectV3 counts with count-only ranges: the member counts in its index
// and sends one number, so this stays in the quick profile. Reads are
// serializable so each member answers from its own store (a lagging member
// shows its own count) and the second count is pinned to the first's
// revision.
func collectV3(ctx context.Context, t *Target) error {
	cli := t.Member.Client
	all, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("count all keys: %w", rpcError(ctx, err))
	}
	rev := all.Header.Revision
	prefix := t.Cluster.registryPrefix()
	reg, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable(), clientv3.WithRev(rev))
	if err != nil {
		return fmt.Errorf("count %s keys at revision %d: %w", DisplayKey([]byte(prefix)), rev, rpcError(ctx, err))
	}
	t.Member.Facts.V3 = &V3Facts{
		Keys:            all.Count,
		RegistryKeys:    reg.Count,
		RegistryPresent: reg.Count > 0,
		Revision:        rev,
	}
	return nil
}

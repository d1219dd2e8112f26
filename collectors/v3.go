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
// shows its own count).
func collectV3(ctx context.Context, t *Target) error {
	prefix := t.Cluster.registryPrefix()
	if st := t.Member.status; st != nil && st.IsLearner {
		return countV3Learner(ctx, t, prefix)
	}
	// One read-only transaction: both counts at the same revision for one
	// round trip. Serializable, so the member answers from its own store
	// and no ReadIndex is needed; a read-only Txn is never a raft proposal.
	resp, err := t.Member.Client.Txn(ctx).Then(
		clientv3.OpGet("", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable()),
		clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable()),
	).Commit()
	if err != nil {
		return fmt.Errorf("count all keys and %s keys: %w", DisplayKey([]byte(prefix)), rpcError(ctx, err))
	}
	if len(resp.Responses) != 2 || resp.Responses[0].GetResponseRange() == nil || resp.Responses[1].GetResponseRange() == nil {
		return fmt.Errorf("count keys: malformed transaction answer (%d responses)", len(resp.Responses))
	}
	all, reg := resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()
	t.Member.Facts.V3 = &V3Facts{
		Keys:            all.Count,
		RegistryKeys:    reg.Count,
		RegistryPresent: reg.Count > 0,
		Revision:        resp.Header.Revision,
	}
	return nil
}

// countV3Learner counts with two serializable ranges: a learner refuses
// transactions. The second is pinned to the first's revision.
func countV3Learner(ctx context.Context, t *Target, prefix string) error {
	cli := t.Member.Client
	all, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("count all keys: %w", rpcError(ctx, err))
	}
	reg, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable(),
		clientv3.WithRev(all.Header.Revision))
	if err != nil {
		return fmt.Errorf("count %s keys: %w", DisplayKey([]byte(prefix)), rpcError(ctx, err))
	}
	t.Member.Facts.V3 = &V3Facts{Keys: all.Count, RegistryKeys: reg.Count, RegistryPresent: reg.Count > 0, Revision: all.Header.Revision}
	return nil
}

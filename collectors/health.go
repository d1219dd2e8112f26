package collectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func healthCollector() Registration {
	return Registration{
		Name:      "health",
		Scope:     ScopeMember,
		Help:      "health as etcd judges it (leader, no alarm, a linearizable read in time), without GET /health",
		Collector: CollectorFunc(collectHealth),
	}
}

// healthKey is what etcdctl endpoint health reads; the key need not exist.
const healthKey = "health"

// collectHealth judges health the way etcd's /health does, but through the
// v3 API: on 3.4 (and 3.5 with --enable-v2) GET /health appends a v2 QGET
// entry to the raft log, the kind of entry that later makes 3.6 panic. A
// linearizable v3 read goes through ReadIndex and appends nothing.
//
// A member that answers but is unhealthy is a fact (Healthy=false with a
// reason), not a collector failure; only a Status that cannot be read fails.
func collectHealth(ctx context.Context, t *Target) error {
	m := t.Member
	st, err := memberStatus(ctx, m)
	if err != nil {
		return err
	}
	h := &HealthFacts{LeaderPresent: st.Leader != 0}
	var reasons []string
	if !h.LeaderPresent {
		reasons = append(reasons, "no leader")
	}
	for _, a := range parseAlarms(st.Errors).Alarms {
		reasons = append(reasons, fmt.Sprintf("alarm %s active on member %s", a.Alarm, a.MemberID))
	}
	// Without a leader a linearizable read can only time out: do not spend
	// the deadline proving it.
	if h.LeaderPresent {
		opts := []clientv3.OpOption{clientv3.WithCountOnly()}
		if st.IsLearner {
			// A learner refuses linearizable reads; a serializable one
			// still shows it answers.
			opts = append(opts, clientv3.WithSerializable())
		}
		start := time.Now()
		_, err = m.Client.Get(ctx, healthKey, opts...)
		h.ReadMS = ms(time.Since(start))
		// etcdctl counts permission denied as healthy: the member answered.
		if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
			reasons = append(reasons, "linearizable read: "+rpcError(ctx, err).Error())
		}
	}
	h.Healthy = len(reasons) == 0
	h.Reason = strings.Join(reasons, "; ")
	m.Facts.Health = h
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

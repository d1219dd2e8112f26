package collectors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func hashKVCollector() Registration {
	return Registration{
		Name:      "hashkv",
		Scope:     ScopeCluster,
		Cost:      CostKeyspace,
		Help:      "HashKV of every reachable member at one common revision (etcd's own post-migration consistency check)",
		Collector: CollectorFunc(collectHashKV),
	}
}

// collectHashKV hashes every reachable member's keyspace at the lowest
// revision they all have, so writes going on meanwhile do not make equal
// stores look different. Each member hashes on its own connection.
func collectHashKV(ctx context.Context, t *Target) error {
	var members []*MemberTarget
	var rev int64
	for _, m := range t.Cluster.Members {
		// Learners do not serve HashKV; they are compared once promoted.
		if m.Client == nil || m.Facts.Status == nil || m.Facts.Status.IsLearner {
			continue
		}
		r := m.Facts.Status.Revision
		if m.Facts.V3 != nil && m.Facts.V3.Revision > 0 {
			r = min(r, m.Facts.V3.Revision)
		}
		if len(members) == 0 || r < rev {
			rev = r
		}
		members = append(members, m)
	}
	if len(members) == 0 {
		return needFact(t, "status", "status")
	}
	f := &HashKVFacts{Revision: rev, Hashes: map[string]uint32{}, Agree: true}
	type answer struct {
		name string
		resp *pb.HashKVResponse
		err  error
	}
	answers := make([]answer, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, max(m.Timeout, t.Cluster.Conn.KeyspaceTimeout))
			defer cancel()
			resp, err := pb.NewMaintenanceClient(m.Client.ActiveConnection()).HashKV(cctx, &pb.HashKVRequest{Revision: rev})
			answers[i] = answer{name: subjectName(m.Facts), resp: resp, err: err}
			if err != nil {
				answers[i].err = fmt.Errorf("member %s: HashKV at revision %d: %w", subjectName(m.Facts), rev, rpcError(cctx, err))
			}
		})
	}
	wg.Wait()
	var errs []error
	first := true
	var hash uint32
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		f.Hashes[a.name] = a.resp.Hash
		f.MembersCompared++
		if first {
			hash, f.CompactRevision, first = a.resp.Hash, a.resp.CompactRevision, false
			continue
		}
		if a.resp.Hash != hash || a.resp.CompactRevision != f.CompactRevision {
			f.Agree = false
		}
		f.CompactRevision = max(f.CompactRevision, a.resp.CompactRevision)
	}
	if len(errs) > 0 {
		// A partial comparison would read as agreement: fail instead.
		return errors.Join(errs...)
	}
	t.Cluster.Facts.HashKV = f
	return nil
}

// subjectName is a member's name, or its endpoint when it has none.
func subjectName(m *MemberFacts) string {
	if m.Name != "" {
		return m.Name
	}
	return m.Endpoint
}

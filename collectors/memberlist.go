package collectors

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func memberListCollector() Registration {
	return Registration{
		Name:      "member_list",
		Scope:     ScopeMember,
		Help:      "the member list as this member reports it (compared across members by consistency)",
		Collector: CollectorFunc(collectMemberList),
	}
}

// collectMemberList asks this member, on its own connection, for its view:
// the cluster-wide client would answer from whichever member it picked.
// Discovery's answer from this member, a moment old, is the same question
// (serializable MemberList) already answered (see reuseDiscovery).
func collectMemberList(ctx context.Context, t *Target) error {
	resp := t.Member.memberList
	if resp == nil {
		var err error
		resp, err = pb.NewClusterClient(t.Member.Client.ActiveConnection()).MemberList(ctx, &pb.MemberListRequest{})
		if err != nil {
			return fmt.Errorf("MemberList: %w", rpcError(ctx, err))
		}
	}
	f := &MemberListFacts{Members: make([]ListedMember, 0, len(resp.Members))}
	for _, mm := range resp.Members {
		if mm == nil {
			continue
		}
		peers, clients := slices.Clone(mm.PeerURLs), slices.Clone(mm.ClientURLs)
		slices.Sort(peers)
		slices.Sort(clients)
		f.Members = append(f.Members, ListedMember{
			ID: memberID(mm.ID), Name: mm.Name, PeerURLs: nonNil(peers), ClientURLs: nonNil(clients), IsLearner: mm.IsLearner,
		})
	}
	slices.SortFunc(f.Members, func(a, b ListedMember) int { return cmp.Compare(a.ID, b.ID) })
	t.Member.Facts.MemberList = f
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package collectors

import (
	"context"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
)

func statusCollector() Registration {
	return Registration{
		Name:      "status",
		Scope:     ScopeMember,
		Help:      "Maintenance.Status: db size and size in use, leader, raft term/index/applied index, learner, errors",
		Collector: CollectorFunc(collectStatus),
	}
}

func collectStatus(ctx context.Context, t *Target) error {
	st, err := memberStatus(ctx, t.Member)
	if err != nil {
		return err
	}
	f := &StatusFacts{
		DBSize:           st.DbSize,
		DBSizeInUse:      st.DbSizeInUse,
		Leader:           memberID(st.Leader),
		RaftTerm:         st.RaftTerm,
		RaftIndex:        st.RaftIndex,
		RaftAppliedIndex: st.RaftAppliedIndex,
		IsLearner:        st.IsLearner,
		Errors:           slices.Clone(st.Errors),
	}
	_, f.DBSizeQuota = statusExtras(st)
	if st.Header != nil {
		f.Revision = st.Header.Revision
		if t.Member.Facts.ID == "" && st.Header.MemberId != 0 {
			t.Member.Facts.ID = memberID(st.Header.MemberId)
		}
	}
	t.Member.Facts.Status = f
	return nil
}

// memberID formats a member or lease ID the way etcdctl prints it.
func memberID(id uint64) string { return fmt.Sprintf("%x", id) }

// statusExtras reads the fields 3.6 added to StatusResponse (storageVersion
// = 11, dbSizeQuota = 12) from the bytes the 3.5 client library keeps but
// does not know: the client is pinned to 3.5 so it builds with embed.
func statusExtras(st *pb.StatusResponse) (storage string, quota int64) {
	b := st.XXX_unrecognized
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return storage, quota
		}
		b = b[n:]
		switch {
		case num == 11 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return storage, quota
			}
			storage, b = string(v), b[n:]
			continue
		case num == 12 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return storage, quota
			}
			quota, b = int64(v), b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return storage, quota
		}
		b = b[n:]
	}
	return storage, quota
}

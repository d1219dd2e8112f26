package collectors

import (
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdaudit/etcdaudit/inventory"
)

// TestReuseDiscovery: discovery's answers serve the collectors only when
// they came from the same endpoint a moment ago; an answer read before
// discovery waited on a hung member is asked again.
func TestReuseDiscovery(t *testing.T) {
	now := time.Now()
	st, ml := &pb.StatusResponse{Version: "3.5.35"}, &pb.MemberListResponse{}
	target := func(endpoint string, age time.Duration, reachable bool) *MemberTarget {
		return &MemberTarget{Endpoint: "http://a:2379", Discovered: inventory.Member{
			Reachable: reachable, Endpoint: endpoint,
			Answers: inventory.Answers{Status: st, StatusAt: now.Add(-age), MemberList: ml, MemberListAt: now.Add(-age)},
		}}
	}
	for _, tc := range []struct {
		name     string
		m        *MemberTarget
		wantUsed bool
	}{
		{"fresh, same endpoint", target("http://a:2379", 10*time.Millisecond, true), true},
		{"stale", target("http://a:2379", 2*time.Second, true), false},
		{"other endpoint", target("http://b:2379", 10*time.Millisecond, true), false},
		{"unreachable", target("http://a:2379", 10*time.Millisecond, false), false},
	} {
		tc.m.reuseDiscovery(now)
		if used := tc.m.status != nil && tc.m.memberList != nil; used != tc.wantUsed {
			t.Errorf("%s: answers used = %v, want %v", tc.name, used, tc.wantUsed)
		}
		if !tc.wantUsed && (tc.m.status != nil || tc.m.memberList != nil) {
			t.Errorf("%s: an answer was used", tc.name)
		}
	}
}

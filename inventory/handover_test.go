package inventory

import (
	"context"
	"testing"
	"time"
)

// TestDiscoverWithClientsHandsOver: discovery leaves one working client per
// reachable member, already carrying the Conn's TLS and shared token, and
// the member's own answers; taking and using them writes nothing beyond the
// one Authenticate of the run.
func TestDiscoverWithClientsHandsOver(t *testing.T) {
	ec, c, conn := secureCluster(t, "handover")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idx := newIndexReader(t, ec)

	before := idx.settled(t)
	d, clients := DiscoverWithClients(ctx, c, conn)
	defer clients.Close()
	if !d.OK() || d.Reachable() != 3 {
		t.Fatalf("discovery: %+v", d)
	}
	lists := 0
	for _, m := range d.Members {
		a := m.Answers
		if a.Status == nil || a.Status.GetHeader().GetMemberId() != m.ID || a.StatusAt.IsZero() {
			t.Errorf("%s: Status answer %+v, want this member's", m.Name, a.Status)
		}
		if a.MemberList != nil {
			lists++
			if a.MemberList.GetHeader().GetMemberId() != m.ID || len(a.MemberList.Members) != 3 {
				t.Errorf("%s: MemberList answer from member %x with %d members", m.Name, a.MemberList.GetHeader().GetMemberId(), len(a.MemberList.Members))
			}
		}
		cli := clients.Take(m.Endpoint)
		if cli == nil {
			t.Fatalf("%s: no client handed over for %s", m.Name, m.Endpoint)
		}
		if again := clients.Take(m.Endpoint); again != nil {
			t.Errorf("%s: a client was handed over twice", m.Name)
		}
		if _, err := cli.Get(ctx, "/anything"); err != nil {
			t.Errorf("%s: Get on the handed-over client: %v", m.Name, err)
		}
		cli.Close()
	}
	if lists == 0 {
		t.Error("no member kept its MemberList answer; the source member at least must")
	}
	after := idx.read(t)
	if moved := after[0] - before[0]; moved != 1 {
		t.Errorf("raft index moved by %d for a discovery and three reads on its clients; want 1 (one Authenticate)", moved)
	}
}

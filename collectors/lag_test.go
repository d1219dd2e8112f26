package collectors_test

import (
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestLaggingMember: one member is stopped while writes go on, restarted,
// and hung (SIGSTOP) before it can serve: the facts name it unreachable
// within the deadline and compare the two that answer. Once it runs again
// and catches up, all three agree, HashKV included.
func TestLaggingMember(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	cli := c.Client(t, c.Members[0].ClientURL, c.Members[1].ClientURL)
	seedV3(t, cli, "/before/%03d", 20)
	lag := c.Members[2]
	if err := lag.Stop(); err != nil {
		t.Fatal(err)
	}
	seedV3(t, cli, "/during/%03d", 300)
	if err := lag.Start(""); err != nil {
		t.Fatal(err)
	}
	if err := lag.Pause(); err != nil {
		t.Fatal(err)
	}
	seedV3(t, cli, "/paused/%03d", 30)

	fleet := fleetFor(t, "lag", c)
	fleet.Clusters[0].Collect.CommandTimeout = 2 * time.Second
	start := time.Now()
	f := run(t, fleet, collectors.Options{Profile: collectors.ProfileFull})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %s with a hung member and a 2s command timeout", took)
	}
	cf := f.Clusters[0]
	if m := member(t, f, lag.Name); m.Reachable || m.Status != nil {
		t.Fatalf("hung member: %s", dump(m))
	}
	if cs := cf.Consistency; cs == nil || cs.MembersCompared != 2 || !cs.LeadersAgree || cs.VotingMembers != 3 {
		t.Fatalf("consistency with a hung member: %+v", cs)
	}
	if h := cf.HashKV; h == nil || h.MembersCompared != 2 || !h.Agree {
		t.Fatalf("hashkv with a hung member: %+v", h)
	}

	if err := lag.Resume(); err != nil {
		t.Fatal(err)
	}
	// Wait until the lagging member has applied everything, then compare.
	deadline := time.Now().Add(30 * time.Second)
	for {
		f = run(t, fleet, collectors.Options{Profile: collectors.ProfileFull})
		cs := f.Clusters[0].Consistency
		if cs != nil && cs.MembersCompared == 3 && cs.AppliedSpread == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member never caught up: %+v", cs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	noErrors(t, f)
	for _, m := range f.Clusters[0].Members {
		if m.V3 == nil || m.V3.Keys != 350 {
			t.Errorf("%s: v3 %+v, want 350 keys", m.Name, m.V3)
		}
	}
	if h := f.Clusters[0].HashKV; h == nil || h.MembersCompared != 3 || !h.Agree {
		t.Fatalf("hashkv after catching up: %+v", h)
	}
}

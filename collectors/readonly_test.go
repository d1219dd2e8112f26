package collectors_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

type position struct{ raftIndex, revision int64 }

// positions reads every member's raft index and revision with Status, which
// itself writes nothing.
func positions(t *testing.T, c *etcdtest.Cluster) map[string]position {
	t.Helper()
	out := map[string]position{}
	for _, m := range c.Members {
		// No user: a client that logs in is itself a raft entry under auth.
		cfg := c.ClientConfig(m.ClientURL)
		cfg.Username, cfg.Password = "", ""
		cli, err := clientv3.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil {
			t.Fatalf("status %s: %v", m.Name, err)
		}
		out[m.Name] = position{int64(st.RaftIndex), st.Header.Revision}
	}
	return out
}

// settled waits until no member's position moves for a second, so the
// comparison is not fooled by entries still being applied from seeding.
func settled(t *testing.T, c *etcdtest.Cluster) map[string]position {
	t.Helper()
	prev := positions(t, c)
	for range 30 {
		time.Sleep(time.Second)
		cur := positions(t, c)
		if equalPositions(prev, cur) {
			return cur
		}
		prev = cur
	}
	t.Fatalf("raft indexes never settled: %v", prev)
	return nil
}

func equalPositions(a, b map[string]position) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReadOnly34 proves a full facts run writes nothing: not a revision, not
// a raft entry, on 3.4 with --enable-v2, where GET /health and quorum v2
// reads would each append an entry. No v2 TTL keys: their SYNC entries move
// the index by themselves.
func TestReadOnly34(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3), etcdtest.WithV2())
	cli := c.Client(t)
	seedV3(t, cli, "/registry/pods/p%02d", 20)
	l := grant(t, cli, 3600)
	seedV3(t, cli, "/registry/events/e%02d", 5, clientv3.WithLease(l))
	seedV3(t, cli, "/registry/events/n%02d", 5)
	v2Put(t, c, "/registry/minions/m1", "x", false, 0)
	v2Put(t, c, "/app/k", "x", false, 0)

	before := settled(t, c)
	f := run(t, fleetFor(t, "ro", c), collectors.Options{Profile: collectors.ProfileFull})
	noErrors(t, f)
	if got := f.Clusters[0].EventLeases; got == nil || got.Keys != 10 {
		t.Fatalf("the run did not walk the events: %+v", got)
	}
	time.Sleep(time.Second)
	after := positions(t, c)
	if !equalPositions(before, after) {
		t.Fatalf("a facts run wrote to the cluster: before %v, after %v", before, after)
	}

	// The comparison can fail: GET /health, which the collectors avoid,
	// appends an entry on 3.4.
	resp, err := http.Get(c.Members[0].ClientURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(500 * time.Millisecond)
	afterHealth := positions(t, c)
	if equalPositions(after, afterHealth) {
		t.Fatalf("GET /health did not move the raft index: the read-only check cannot detect writes")
	}
	// Why alarms come from Status: the Alarm RPC's list is a raft proposal.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.AlarmList(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if equalPositions(afterHealth, positions(t, c)) {
		t.Errorf("AlarmList did not move the raft index on 3.4 (the alarms collector avoids it on that premise)")
	}
}

package etcdtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestUpgradeRefusedWithV2Snapshot: a 3.5 member whose last snapshot holds v2
// custom data cannot start on 3.6 ("detected disallowed custom content in
// v2store"), the error says so, and the member goes back to 3.5 with its data.
func TestUpgradeRefusedWithV2Snapshot(t *testing.T) {
	t.Parallel() // mostly waiting on raft timers; overlaps well
	etcdtest.RequireVersion(t, "3.6")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3),
		etcdtest.WithV2(), etcdtest.WithSnapshotCount(5))
	ctx := ctxT(t, 2*time.Minute)
	res, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/legacy", Keys: 20})
	if err != nil || res.Keys != 20 {
		t.Fatalf("seed v2: %+v %v", res, err)
	}
	if _, err := c.Client(t).Put(ctx, "/v3key", "kept"); err != nil {
		t.Fatal(err)
	}
	m := c.Members[2]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	err = m.Start("3.6")
	if err == nil {
		t.Fatal("3.6 started on a data dir whose snapshot holds v2 custom data")
	}
	for _, want := range []string{"etcd 3.6.16", "exit status 1", "detected disallowed custom content in v2store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Logf("3.6 refused as expected: %v", err)
	if m.Running() {
		t.Fatal("member running after a refused start")
	}
	// Back to 3.5: the member rejoins with its data.
	if err := m.Start("3.5"); err != nil {
		t.Fatalf("downgrade back to 3.5: %v", err)
	}
	waitValue(t, ctx, m.Client(t), "/v3key", "kept")
}

// TestUpgradePanicsOnV2WAL: v2 writes only in the WAL (no snapshot since)
// make 3.6 panic while replaying them, exit status 2.
func TestUpgradePanicsOnV2WAL(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	ctx := ctxT(t, time.Minute)
	if _, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Keys: 3}); err != nil {
		t.Fatal(err)
	}
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	err := m.Start("3.6")
	if err == nil {
		t.Fatal("3.6 started on a WAL holding v2 writes")
	}
	for _, want := range []string{"exit status 2", "detected disallowed v2 WAL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestUpgradeClean: a 3.5 cluster without v2 data upgrades member by member
// to 3.6 and keeps its keys; once the cluster version is 3.6 a member cannot
// simply go back to the 3.5 binary.
func TestUpgradeClean(t *testing.T) {
	t.Parallel() // mostly waiting on raft timers; overlaps well
	etcdtest.RequireVersion(t, "3.6")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	ctx := ctxT(t, 2*time.Minute)
	cli := c.Client(t)
	if n, err := seed.V3Keys(ctx, cli, "/k/", 300); err != nil || n != 300 {
		t.Fatalf("seed: %d %v", n, err)
	}
	for _, m := range c.Members {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := m.Start("3.6"); err != nil {
			t.Fatalf("upgrade %s: %v", m.Name, err)
		}
		if m.FullVersion() != "3.6.16" {
			t.Fatalf("%s runs %s", m.Name, m.FullVersion())
		}
	}
	for _, m := range c.Members {
		resp, err := m.Client(t).Get(ctx, "/k/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		if err != nil || resp.Count != 300 {
			t.Fatalf("%s after upgrade: %v keys, %v", m.Name, resp, err)
		}
	}
	// The cluster version follows the last member to 3.6; after that the 3.5
	// binary refuses the data dir.
	waitClusterVersion(t, ctx, c, "3.6.0")
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	err := m.Start("3.5")
	if err == nil {
		t.Fatal("3.5 started on a member of a 3.6 cluster")
	}
	if !strings.Contains(err.Error(), "invalid downgrade; server version is lower than determined cluster version") {
		t.Errorf("downgrade error lacks etcd's reason:\n%v", err)
	}
	if err := m.Start("3.6"); err != nil {
		t.Fatalf("back to 3.6: %v", err)
	}
}

// waitClusterVersion polls /version until every running member reports want
// as the cluster version.
func waitClusterVersion(t *testing.T, ctx context.Context, c *etcdtest.Cluster, want string) {
	t.Helper()
	hc := c.HTTPClient()
	var last string
	for ctx.Err() == nil {
		ok := true
		for _, m := range c.Members {
			resp, err := hc.Get(m.ClientURL + "/version")
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			var v struct{ Etcdcluster string }
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err != nil || v.Etcdcluster != want {
				ok, last = false, fmt.Sprintf("%s: cluster version %q %v", m.Name, v.Etcdcluster, err)
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("cluster version never became %s: %s", want, last)
}

// TestUpgrade37NeedsA36Snapshot: a 3.5 restart after a member's last
// snapshot leaves a v2-encoded entry in its WAL (a restarting 3.5 member
// re-registers in v2 form); 3.6 replays it, 3.7 (no v2 apply path) cannot.
// Skipping step 6 of the procedure (a 3.6 snapshot) makes 3.7 fail to start.
func TestUpgrade37NeedsA36Snapshot(t *testing.T) {
	t.Parallel() // mostly waiting on raft timers; overlaps well
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithSnapshotCount(5))
	ctx := ctxT(t, 2*time.Minute)
	cli := c.Client(t)
	st, err := cli.Status(ctx, c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	forceSnapshots(t, ctx, c, st.RaftIndex)
	for _, v := range []string{"3.5", "3.6"} { // a 3.5 rolling restart, then 3.6 without a snapshot of its own
		for _, m := range c.Members {
			if err := m.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := m.StartWith(v, etcdtest.WithSnapshotCount(10000)); err != nil {
				t.Fatalf("%s on %s: %v", m.Name, v, err)
			}
		}
	}
	waitClusterVersion(t, ctx, c, "3.6.0")
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	err = m.Start("3.7")
	if err == nil {
		t.Fatal("3.7 started on a data dir with a v2-encoded entry after its last snapshot")
	}
	for _, want := range []string{"exit status 2", "unmarshal should never fail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Step 6 repairs it: back on 3.6, a 3.6 snapshot on every member, then 3.7.
	if err := m.StartWith("3.6", etcdtest.WithSnapshotCount(5)); err != nil {
		t.Fatalf("back to 3.6: %v", err)
	}
	for _, o := range c.Members[1:] {
		if err := o.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := o.StartWith("3.6", etcdtest.WithSnapshotCount(5)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err = cli.Status(ctx, c.Endpoints()[1]); err != nil {
		t.Fatal(err)
	}
	forceSnapshots(t, ctx, c, st.RaftIndex)
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("3.7"); err != nil {
		t.Fatalf("3.7 after a 3.6 snapshot: %v", err)
	}
}

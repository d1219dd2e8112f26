package etcdtest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRollingUpgrade replays the rolling upgrade of docs/etcd-knowledge.md on a 3-member
// cluster, 3.4.23 → 3.5.35 → 3.6.16 → 3.7.3, through the harness alone: v2
// data deleted and a snapshot forced past the deletion before 3.6, a 3.6
// snapshot before 3.7, and every v3 key identical on every member at the end.
func TestRollingUpgrade(t *testing.T) {
	t.Parallel() // mostly waiting on raft timers; overlaps well
	for _, v := range []string{"3.4", "3.6", "3.7"} {
		etcdtest.RequireVersion(t, v)
	}
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3), etcdtest.WithV2(), etcdtest.WithName("roll"))
	ctx := ctxT(t, 4*time.Minute)
	cli := c.Client(t)
	if _, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/legacy", Dirs: 2, Keys: 20}); err != nil {
		t.Fatal(err)
	}
	if n, err := seed.V3Keys(ctx, cli, "/keep/", 300); err != nil || n != 300 {
		t.Fatalf("seed v3: %d %v", n, err)
	}
	if _, err := seed.Events(ctx, cli, "/registry/events/", 50, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := snapshotKeys(t, ctx, c.Members[0].Client(t))

	hop := func(version string, opts ...etcdtest.Option) {
		t.Helper()
		for _, m := range c.Members {
			if err := m.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := m.StartWith(version, opts...); err != nil {
				t.Fatalf("%s to %s: %v", m.Name, version, err)
			}
		}
	}
	// 1. Each member to 3.5, still serving v2.
	hop("3.5")
	waitClusterVersion(t, ctx, c, "3.5.0")

	// 2. Delete the v2 data (the migration itself is the remediator's job).
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, c.Endpoints()[0]+"/v2/keys/legacy?recursive=true&dir=true", nil)
	resp, err := c.HTTPClient().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("delete v2 data: %v %v", resp, err)
	}
	resp.Body.Close()

	// 3-4. Restart on 3.5 without the v2 API and with a low snapshot count,
	// then write until every member's newest snapshot is past the deletion.
	hop("3.5", etcdtest.WithoutV2(), etcdtest.WithSnapshotCount(5))
	st, err := cli.Status(ctx, c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	deletedBy := st.RaftIndex
	forceSnapshots(t, ctx, c, deletedBy)

	// 5-6. Each member to 3.6, then have 3.6 write a snapshot everywhere.
	hop("3.6")
	waitClusterVersion(t, ctx, c, "3.6.0")
	st, err = cli.Status(ctx, c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	forceSnapshots(t, ctx, c, st.RaftIndex)

	// 7. Each member to 3.7; every key kept, on every member.
	hop("3.7")
	waitClusterVersion(t, ctx, c, "3.7.0")
	for _, m := range c.Members {
		after := snapshotKeys(t, ctx, m.Client(t))
		if len(after) != len(before) {
			t.Fatalf("%s holds %d keys after the upgrade, %d before", m.Name, len(after), len(before))
		}
		for k, kv := range before {
			if got, ok := after[k]; !ok || got != kv {
				t.Fatalf("%s: key %q was %+v, now %+v", m.Name, k, kv, got)
			}
		}
	}
}

type keyState struct {
	value                string
	lease                int64
	create, mod, version int64
}

// snapshotKeys reads every key with its value and metadata (a full read:
// 3.7 keys-only ranges report lease 0).
func snapshotKeys(t *testing.T, ctx context.Context, cli *clientv3.Client) map[string]keyState {
	t.Helper()
	resp, err := cli.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]keyState{}
	for _, kv := range resp.Kvs {
		if bytes.HasPrefix(kv.Key, []byte("/etcdtest-snapshot")) {
			continue
		}
		out[string(kv.Key)] = keyState{string(kv.Value), kv.Lease, kv.CreateRevision, kv.ModRevision, kv.Version}
	}
	return out
}

// forceSnapshots writes (put and delete one dedicated key) until every
// member's newest snapshot index is above index.
func forceSnapshots(t *testing.T, ctx context.Context, c *etcdtest.Cluster, index uint64) {
	t.Helper()
	cli := c.Client(t)
	for i := 0; ; i++ {
		done := true
		for _, m := range c.Members {
			if _, snap, err := m.LatestSnapshot(); err != nil || snap <= index {
				done = false
			}
		}
		if done {
			return
		}
		if i > 200 || ctx.Err() != nil {
			t.Fatalf("no snapshot past index %d after %d writes", index, 2*i)
		}
		if _, err := cli.Put(ctx, "/etcdtest-snapshot", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Delete(ctx, "/etcdtest-snapshot"); err != nil {
			t.Fatal(err)
		}
	}
}

package leases

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
)

const eventsPrefix = "/registry/events/"

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// snapshotPrefix reads every key-value under prefix in full (keys-only
// answers drop the lease on 3.7).
func snapshotPrefix(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) map[string]*kvState {
	t.Helper()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("get %s: %v", prefix, err)
	}
	out := map[string]*kvState{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = &kvState{value: string(kv.Value), lease: kv.Lease}
	}
	return out
}

type kvState struct {
	value string
	lease int64
}

// TestAttach seeds leased and unleased events on 3.5 (with a --max-txn-ops
// below the default, so the halving path runs) and on 3.7 (whose keys-only
// answers carry no lease), attaches, and checks coverage, values, TTLs,
// lease sharing and that a second run attaches nothing.
func TestAttach(t *testing.T) {
	for _, tc := range []struct {
		version string
		flags   []string
	}{
		{"3.5", []string{"--max-txn-ops=50"}},
		{"3.7", nil},
	} {
		t.Run(tc.version, func(t *testing.T) {
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(tc.version))
			cli := c.Client(t)
			ctx := testCtx(t)
			seeded, err := seed.Events(ctx, cli, eventsPrefix, 1500, 2600, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if tc.flags != nil { // after seeding: the seeder's transactions hold 128 puts
				m := c.Members[0]
				if err := m.Stop(); err != nil {
					t.Fatal(err)
				}
				if err := m.StartWith("", etcdtest.WithFlags(tc.flags...)); err != nil {
					t.Fatal(err)
				}
			}
			// A key outside the prefix keeps having no lease.
			if _, err := cli.Put(ctx, "/registry/pods/ns-0/web", "pod"); err != nil {
				t.Fatal(err)
			}
			before := snapshotPrefix(t, ctx, cli, eventsPrefix)

			rep, err := Attach(ctx, cli, eventsPrefix, Options{PageSize: 700, Concurrency: 3})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Keys != 4100 || rep.AlreadyLeased != 1500 || rep.Attached != 2600 || rep.Gone != 0 {
				t.Fatalf("report %+v; want 4100 keys, 1500 already leased, 2600 attached", rep)
			}
			// 2,600 keys at 1,000 a lease: 3 leases, 4 if a bucket boundary fell inside the run.
			if n := len(rep.Leases); n < 3 || n > 4 {
				t.Fatalf("%d leases granted; want 3 (or 4)", n)
			}
			after := snapshotPrefix(t, ctx, cli, eventsPrefix)
			if len(after) != len(before) {
				t.Fatalf("%d keys after, %d before", len(after), len(before))
			}
			seedLeases := map[int64]bool{}
			for _, id := range seeded.Leases {
				seedLeases[int64(id)] = true
			}
			newLeases := map[int64]bool{}
			for _, id := range rep.Leases {
				newLeases[int64(id)] = true
			}
			for k, b := range before {
				a := after[k]
				switch {
				case a == nil:
					t.Fatalf("%s vanished", k)
				case a.value != b.value:
					t.Fatalf("%s: value changed", k)
				case b.lease != 0 && a.lease != b.lease:
					t.Fatalf("%s: its lease %x was replaced by %x", k, b.lease, a.lease)
				case b.lease == 0 && !newLeases[a.lease]:
					t.Fatalf("%s: lease %x is not one Attach granted", k, a.lease)
				}
			}
			for _, id := range rep.Leases {
				ttl, err := cli.TimeToLive(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				// At least the TTL asked for, at most one bucket width more.
				if ttl.GrantedTTL < 3600 || ttl.GrantedTTL > 3600+61 || ttl.TTL < 3500 {
					t.Fatalf("lease %x: granted %d s, %d s left; want 3600-3661", id, ttl.GrantedTTL, ttl.TTL)
				}
			}
			pod, err := cli.Get(ctx, "/registry/pods/ns-0/web")
			if err != nil || pod.Kvs[0].Lease != 0 {
				t.Fatalf("a key outside the prefix was touched: %v, %v", pod, err)
			}

			again, err := Attach(ctx, cli, eventsPrefix, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Attached != 0 || again.AlreadyLeased != 4100 || len(again.Leases) != 0 {
				t.Fatalf("second run %+v; want nothing attached, no lease granted", again)
			}
		})
	}
}

// TestAttachGuard changes a key between Attach's read and its transaction:
// the guarded re-put must fail, the key be re-read, and the new value kept.
func TestAttachGuard(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"))
	cli := c.Client(t)
	ctx := testCtx(t)
	if _, err := seed.Events(ctx, cli, eventsPrefix, 0, 300, time.Hour); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var changed, deleted string
	beforeTxn = func(ctx context.Context, keys []string) {
		once.Do(func() {
			changed, deleted = keys[0], keys[1]
			if _, err := cli.Put(ctx, changed, "written meanwhile"); err != nil {
				t.Error(err)
			}
			if _, err := cli.Delete(ctx, deleted); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { beforeTxn = nil })
	rep, err := Attach(ctx, cli, eventsPrefix, Options{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retried != 1 || rep.Gone != 1 || rep.Attached != 299-1+1 {
		t.Fatalf("report %+v; want 1 retried, 1 gone, 299 attached", rep)
	}
	got := snapshotPrefix(t, ctx, cli, eventsPrefix)
	if got[changed] == nil || got[changed].value != "written meanwhile" || got[changed].lease == 0 {
		t.Fatalf("%s = %+v; want the concurrent write, leased", changed, got[changed])
	}
	if got[deleted] != nil {
		t.Fatalf("%s was deleted meanwhile but exists again: %+v", deleted, got[deleted])
	}
	if len(got) != 299 {
		t.Fatalf("%d keys; want 299", len(got))
	}
}

// TestAttachConcurrentWriter runs writers that keep updating events (with a
// lease of their own, as the apiserver does) while Attach works: every
// acknowledged update must be the key's value afterwards, and every key leased.
func TestAttachConcurrentWriter(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"))
	cli := c.Client(t)
	ctx := testCtx(t)
	if _, err := seed.Events(ctx, cli, eventsPrefix, 0, 6000, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys := snapshotPrefix(t, ctx, cli, eventsPrefix)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 3
	last := make([]map[string]string, writers) // each writer owns names[i::writers]
	var acked atomic.Int64
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range writers {
		last[w] = map[string]string{}
		wg.Go(func() {
			for n := 0; wctx.Err() == nil; n++ {
				k := names[(n*writers+w)%len(names)]
				v := fmt.Sprintf("update %d by writer %d", n, w)
				if _, err := cli.Put(wctx, k, v, clientv3.WithLease(lease.ID)); err != nil {
					return // stopped, or not acknowledged: not counted
				}
				last[w][k] = v
				acked.Add(1)
			}
		})
	}
	rep, err := Attach(ctx, cli, eventsPrefix, Options{PageSize: 500, Concurrency: 4})
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attach %+v; %d acknowledged writes meanwhile", rep, acked.Load())
	if acked.Load() == 0 {
		t.Fatal("the writers acknowledged nothing during the attachment")
	}
	got := snapshotPrefix(t, ctx, cli, eventsPrefix)
	for w := range writers {
		for k, v := range last[w] {
			if got[k] == nil || got[k].value != v {
				t.Fatalf("%s: acknowledged %q lost (now %+v)", k, v, got[k])
			}
			// Written with the writer's lease, before or after Attach read
			// it: an unguarded re-put would have swapped in Attach's lease.
			if got[k].lease != int64(lease.ID) {
				t.Fatalf("%s: the writer's lease %x was replaced by %x", k, lease.ID, got[k].lease)
			}
		}
	}
	for k, s := range got {
		if s.lease == 0 {
			t.Fatalf("%s has no lease after Attach", k)
		}
	}
	if rep.Attached+rep.AlreadyLeased+rep.Gone < len(names) {
		t.Fatalf("report %+v accounts for fewer than %d keys", rep, len(names))
	}
}

package etcdtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLifecycle runs a 3-member cluster of every version through start,
// serve, Stop/Start, Kill and Pause/Resume.
func TestLifecycle(t *testing.T) {
	for _, v := range etcdtest.Versions() {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithMembers(3), etcdtest.WithName("life"))
			cli := c.Client(t)
			ctx := ctxT(t, 2*time.Minute)
			if _, err := cli.Put(ctx, "/k", "v1"); err != nil {
				t.Fatalf("put: %v", err)
			}
			// Every member serves, reports the version we asked for and,
			// once converged, the put's revision.
			if err := c.WaitConverged(ctx); err != nil {
				t.Fatal(err)
			}
			want, _ := etcdtest.FullVersion(v)
			var revs []int64
			for _, m := range c.Members {
				st, err := cli.Status(ctx, m.ClientURL)
				if err != nil {
					t.Fatalf("status %s: %v", m.Name, err)
				}
				if st.Version != want {
					t.Errorf("%s: version %s, want %s", m.Name, st.Version, want)
				}
				revs = append(revs, st.Header.Revision)
			}
			if revs[0] < 2 || revs[0] != revs[1] || revs[1] != revs[2] {
				t.Errorf("revisions after WaitConverged: %v, want one revision ≥ 2", revs)
			}

			m := c.Members[1]
			if err := m.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if m.Running() {
				t.Fatal("running after Stop")
			}
			putRetry(t, ctx, cli, "/k", "v2")
			if err := m.Start(""); err != nil {
				t.Fatalf("restart: %v", err)
			}
			// The restarted member caught up through its own endpoint.
			waitValue(t, ctx, m.Client(t), "/k", "v2")

			if v == etcdtest.Embed {
				return // Kill and Pause need a process; covered by TestEmbedUnsupported.
			}
			if err := m.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			// A write in flight on the killed member's connection fails once
			// (clientv3 does not retry writes); the cluster must take the retry.
			putRetry(t, ctx, cli, "/k", "v3")
			if err := m.Start(""); err != nil {
				t.Fatalf("start after kill: %v", err)
			}
			waitValue(t, ctx, m.Client(t), "/k", "v3")

			// Pause a follower and write through the leader: a paused leader
			// would stall writes for an election timeout.
			leader, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p := c.Members[0]
			if p == leader {
				p = c.Members[1]
			}
			pcli := p.Client(t)
			lcli := leader.Client(t)
			if err := p.Pause(); err != nil {
				t.Fatalf("pause: %v", err)
			}
			gctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			start := time.Now()
			_, err = pcli.Get(gctx, "/k", clientv3.WithSerializable())
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("get from paused member: err %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("get from paused member took %s, want about its 500ms deadline", d)
			}
			if _, err := lcli.Put(ctx, "/k", "v4"); err != nil {
				t.Fatalf("put with one member paused: %v", err)
			}
			if err := p.Resume(); err != nil {
				t.Fatalf("resume: %v", err)
			}
			waitValue(t, ctx, pcli, "/k", "v4")
			// Leave p paused: the cleanup must still kill it.
			if err := p.Pause(); err != nil {
				t.Fatalf("pause again: %v", err)
			}
		})
	}
}

// waitValue polls a serializable Get until key has want (a member that just
// restarted or resumed may lag a little).
func waitValue(t *testing.T, ctx context.Context, cli *clientv3.Client, key, want string) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := cli.Get(gctx, key, clientv3.WithSerializable())
		cancel()
		if err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == want {
			return
		}
		last = fmt.Sprintf("resp %v err %v", resp, err)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became %q: %s", key, want, last)
}

// putRetry writes key, retrying for up to 10 s: after a member stops, the
// first write on its connection may fail with Unavailable.
func putRetry(t *testing.T, ctx context.Context, cli *clientv3.Client, key, val string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = cli.Put(pctx, key, val)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("put %s: %v", key, err)
}

package etcdtest_test

import (
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAddMember: a running learner and a running voting member join through
// the API; the learner serves serializable reads and reports itself a learner.
func TestAddMember(t *testing.T) {
	for _, v := range []string{"3.4", "3.7", etcdtest.Embed} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			// Two voters, so adding a third keeps quorum: from one voter to two,
			// 3.5+ members spend two request timeouts (14 s) in a startup check
			// while the cluster has no quorum until the joiner is up.
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithMembers(2), etcdtest.WithName("grow"))
			ctx := ctxT(t, 2*time.Minute)
			cli := c.Client(t) // on the voters only: a learner refuses most RPCs
			if _, err := cli.Put(ctx, "/k", "before"); err != nil {
				t.Fatal(err)
			}
			l, err := c.AddMember(ctx, "", true)
			if err != nil {
				t.Fatal(err)
			}
			st, err := cli.Status(ctx, l.ClientURL)
			if err != nil || !st.IsLearner {
				t.Fatalf("learner status: %+v, %v", st, err)
			}
			waitValue(t, ctx, l.Client(t), "/k", "before")

			v2, err := c.AddMember(ctx, "", false)
			if err != nil {
				t.Fatal(err)
			}
			list, err := cli.MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Members) != 4 || len(c.Members) != 4 || len(c.Endpoints()) != 4 {
				t.Fatalf("%d members listed, %d in the harness", len(list.Members), len(c.Members))
			}
			learners := 0
			for _, m := range list.Members {
				if m.IsLearner {
					learners++
				}
				if m.Name == "" {
					t.Errorf("member %x has no name: not started?", m.ID)
				}
			}
			if learners != 1 {
				t.Fatalf("%d learners, want 1", learners)
			}
			if _, err := cli.Put(ctx, "/k", "after"); err != nil {
				t.Fatal(err)
			}
			waitValue(t, ctx, v2.Client(t), "/k", "after")
			// The added members restart like the others.
			if err := v2.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := v2.Start(""); err != nil {
				t.Fatal(err)
			}
			resp, err := v2.Client(t).Get(ctx, "/k", clientv3.WithSerializable())
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("get from restarted added member: %v %v", resp, err)
			}
		})
	}
}

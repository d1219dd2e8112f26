package remediate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

// TestAttachLeasesResume: the verify hook fails right after the attach step
// leased every key, so the run halts with the step failed; resume finds
// every key leased and re-puts nothing (every mod revision the same), and
// the run ends done with ETCD-K8S-004 passing.
func TestAttachLeasesResume(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	w := newWorld(t, "ev", etcdtest.WithVersion("3.5"))
	cli := w.h.Cluster.Client(t)
	ctx := t.Context()
	for i := range 120 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/events/ns/e-%03d", i), fmt.Sprintf("event %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p := w.plan(t, Options{Actions: []string{ActionAttachEventLeases}})
	c := &p.Clusters[0]
	if c.Refused != "" || len(c.Steps) != 2 || c.Steps[1].Kind != KindAttachLeases {
		t.Fatalf("plan: %+v", c)
	}
	var verifies atomic.Int32
	w.h.SetProbe(func(ctx context.Context, member string) error {
		if verifies.Add(1) == 2 { // the attach step's verify
			return errors.New("the operator's probe failed")
		}
		return nil
	})
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err == nil || out.Status != journal.RunHalted || !strings.Contains(out.Reason, "attach-event-leases/attach") {
		t.Fatalf("apply: %+v %v", out, err)
	}
	revs := func() map[string]int64 {
		t.Helper()
		r, err := cli.Get(ctx, "/registry/events/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, kv := range r.Kvs {
			if kv.Lease == 0 {
				t.Errorf("%s has no lease", kv.Key)
			}
			m[string(kv.Key)] = kv.ModRevision
		}
		return m
	}
	halted := revs()
	out, err = w.eng.Resume(ctx, out.RunID, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("resume: %+v %v\n%s", out, err, w.out)
	}
	after := revs()
	if len(after) != 120 {
		t.Errorf("%d keys after resume", len(after))
	}
	for k, r := range halted {
		if after[k] != r {
			t.Errorf("%s re-put on resume (mod revision %d -> %d)", k, r, after[k])
		}
	}
	j, err := journal.OpenReadOnly(w.eng.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	steps, err := j.Steps(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Key == "ev/attach-event-leases/attach" && (s.Status != journal.StepDone || !strings.HasPrefix(s.Note, "already done")) {
			t.Errorf("resumed attach step: %s %q", s.Status, s.Note)
		}
	}
}

package remediate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

// TestApplyHaltsOnV2StoreCheck: a 3.5 cluster with --enable-v2 and no v2
// data is planned to 3.6. Right after the plan's first step, a client the
// plan knows nothing about writes one v2 key (the fleet changed after the
// fingerprint was checked). The forced snapshot then holds it, and 3.6
// would refuse that data dir; the check_v2store hook (etcdutl check
// v2store on the stopped member) finds it, the member is started again on
// 3.5, nothing is installed, and the run halts naming the finding. Every
// member still runs 3.5 and every v3 key is intact.
func TestApplyHaltsOnV2StoreCheck(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	hoststub.RequireRestoreTool(t, "3.5")
	w := newWorld(t, "late", etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2())
	ctx := t.Context()
	c := w.h.Cluster
	if _, err := seed.V3Keys(ctx, c.Client(t), "/registry/pods/", 50); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before := dump(t, c.Members[0].Client(t))
	p := w.plan(t, Options{Target: "3.6.16"})
	if cp := p.Clusters[0]; cp.Refused != "" || len(cp.Steps) == 0 {
		t.Fatalf("plan: %q", cp.Refused)
	}
	var once sync.Once
	var lateErr error
	w.h.SetProbe(func(ctx context.Context, _ string) error {
		once.Do(func() {
			res, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/registry/late", Keys: 1})
			if err == nil && res.Keys != 1 {
				err = fmt.Errorf("%d v2 keys written", res.Keys)
			}
			lateErr = err
		})
		return nil
	})
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if lateErr != nil {
		t.Fatalf("the late v2 write: %v", lateErr)
	}
	if err == nil || out.Status != journal.RunHalted {
		t.Fatalf("apply: %+v %v", out, err)
	}
	t.Logf("halted: %s", out.Reason)
	first := memberSteps(p)[0]
	for _, want := range []string{first.ID, "check_v2store", "detected custom content in v2store", "started again on 3.5.35", "nothing was installed"} {
		if !strings.Contains(out.Reason, want) {
			t.Errorf("halt reason lacks %q: %s", want, out.Reason)
		}
	}
	for m, v := range versions(t, w) {
		if v != "3.5.35" {
			t.Errorf("%s runs %s after the halt, want 3.5.35", m, v)
		}
	}
	for _, op := range w.h.Ops() {
		if strings.HasPrefix(op, "install ") {
			t.Errorf("a binary was installed: %q", w.h.Ops())
			break
		}
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	after := dump(t, c.Members[0].Client(t))
	sameKeys(t, before, after)
}

package remediate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/lock"
)

// TestApplyRefusals: without approval, with a stale plan, with the gate
// denying, or with another remediator holding the cluster, apply runs no
// hook at all and says why.
func TestApplyRefusals(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	w := newWorld(t, "one", etcdtest.WithVersion("3.6"))
	ctx := t.Context()
	p := w.plan(t, Options{})
	if c := p.Clusters[0]; c.Refused != "" || len(c.Steps) == 0 {
		t.Fatalf("plan: %q, %d steps", c.Refused, len(c.Steps))
	}
	noHooks := func(what string) {
		t.Helper()
		if calls := w.h.Ops(); len(calls) != 0 {
			t.Fatalf("%s: hooks ran: %v", what, calls)
		}
	}

	if _, err := w.eng.Apply(ctx, p, ApplyOptions{}); !errors.Is(err, ErrNotApproved) {
		t.Errorf("unapproved: %v", err)
	}
	noHooks("unapproved")

	// The gate: a large cluster needs --allow-tier large.
	w.fleet.Clusters[0].Labels = map[string]string{"tier": "large"}
	p.Clusters[0].Tier = "large"
	_, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true})
	if !errors.Is(err, ErrGateDenied) || !strings.Contains(err.Error(), "tier large needs --allow-tier large") {
		t.Errorf("gate: %v", err)
	}
	noHooks("gate denial")
	w.fleet.Clusters[0].Labels, p.Clusters[0].Tier = nil, ""

	// Another remediator holds the cluster.
	held, err := lock.Acquire(ctx, lock.Options{Cluster: "one", Holder: "the other run", StateDir: w.eng.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.eng.Apply(ctx, p, ApplyOptions{Approve: true})
	if err == nil || !strings.Contains(err.Error(), "the other run") {
		t.Errorf("second remediator: %v", err)
	}
	noHooks("lock held")
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// The fleet changed since the plan.
	if _, err := w.h.Cluster.Client(t).Put(ctx, "/new", "key"); err != nil {
		t.Fatal(err)
	}
	_, err = w.eng.Apply(ctx, p, ApplyOptions{Approve: true})
	if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "v3 data none -> some") {
		t.Errorf("stale plan: %v", err)
	}
	noHooks("stale plan")
}

// TestV2DataRefusedAndForcedHopPanics: a 3.5 cluster holding custom v2 data
// gets no plan for the 3.6 hop, with the reason; forcing the hop by hand
// through the same hooks makes 3.6 panic on the v2 entries of the log, and
// the member goes back to 3.5 with its data. This is why the planner
// refuses.
func TestV2DataRefusedAndForcedHopPanics(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	w := newWorld(t, "legacy", etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	ctx := t.Context()
	c := w.h.Cluster
	if res, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/registry/minions", Keys: 20}); err != nil || res.Keys != 20 {
		t.Fatalf("seed v2: %+v %v", res, err)
	}
	if _, err := c.Client(t).Put(ctx, "/v3key", "kept"); err != nil {
		t.Fatal(err)
	}
	p := w.plan(t, Options{Target: "3.6.16"})
	if r := p.Clusters[0].Refused; !strings.Contains(r, "custom v2 data on m0 (20 keys") || !strings.Contains(r, "migrate-v2-to-v3 and cleanup-v2 must run first") {
		t.Fatalf("plan not refused with the reason: %q (%d steps)", r, len(p.Clusters[0].Steps))
	}
	// By hand, through the hooks, as the seed's script did.
	r := w.eng.Hooks["legacy"]
	s := &Step{ID: "by-hand", Member: "m0", ClientURL: c.Members[0].ClientURL, From: "3.5.35", To: "3.6.16", FlagsDrop: []string{"--enable-v2"}}
	for _, h := range []string{hookStop, hookFlags, hookInstall} {
		if _, err := r.Run(ctx, h, StepVars("legacy", "", s)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Run(ctx, hookStart, StepVars("legacy", "", s))
	if err == nil {
		t.Fatal("3.6 started on a data dir whose log holds v2 writes")
	}
	if !strings.Contains(res.Output, "detected disallowed v2 WAL") && !strings.Contains(res.Output, "detected disallowed custom content") {
		t.Errorf("3.6 failed for another reason: %v\n%s", err, res.Output)
	}
	t.Logf("3.6 refused: %v", firstLine(res.Output))
	back := &Step{ID: "back", Member: "m0", To: "3.5.35"}
	for _, h := range []string{hookInstall, hookStart} {
		if _, err := r.Run(ctx, h, StepVars("legacy", "", back)); err != nil {
			t.Fatalf("back to 3.5: %v", err)
		}
	}
	got, err := c.Members[0].Client(t).Get(ctx, "/v3key")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "kept" {
		t.Fatalf("data after going back: %v %v", got, err)
	}
}

// upgradeWorld is a 3-member 3.4 cluster with data and a plan to 3.5.35.
func upgradeWorld(t *testing.T, name string) (*world, *Plan, map[string]kv) {
	t.Helper()
	etcdtest.RequireVersion(t, "3.4")
	etcdtest.RequireVersion(t, "3.5")
	w := newWorld(t, name, etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3))
	ctx := t.Context()
	cli := w.h.Cluster.Client(t)
	if _, err := seed.V3Keys(ctx, cli, "/registry/pods/", 100); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Events(ctx, cli, "/registry/events/", 50, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := w.h.Cluster.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before := dump(t, w.h.Cluster.Members[0].Client(t))
	p := w.plan(t, Options{Target: "3.5.35"})
	if c := p.Clusters[0]; c.Refused != "" || len(c.Steps) == 0 {
		t.Fatalf("plan: %q", c.Refused)
	}
	return w, p, before
}

// memberSteps are the plan's member-upgrade steps in order.
func memberSteps(p *Plan) []*Step {
	var out []*Step
	for i := range p.Clusters[0].Steps {
		if s := &p.Clusters[0].Steps[i]; s.Kind == KindMemberUpgrade {
			out = append(out, s)
		}
	}
	return out
}

func versions(t *testing.T, w *world) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range w.h.Cluster.Members {
		if !m.Running() {
			out[m.Name] = "down"
			continue
		}
		st, err := w.h.Cluster.Client(t).Status(t.Context(), m.ClientURL)
		if err != nil {
			out[m.Name] = "error: " + err.Error()
			continue
		}
		out[m.Name] = st.Version
	}
	return out
}

// TestApplyHaltsWhenMemberDoesNotComeBack: the second member's start fails;
// the run halts there with the step named, the third member is never
// touched, and the cluster keeps quorum.
func TestApplyHaltsWhenMemberDoesNotComeBack(t *testing.T) {
	w, p, _ := upgradeWorld(t, "halt")
	ms := memberSteps(p)
	w.h.FailNext("start", ms[1].Member)
	out, err := w.eng.Apply(t.Context(), p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err == nil || out.Status != journal.RunHalted || !strings.Contains(out.Reason, ms[1].ID) {
		t.Fatalf("apply: %+v %v", out, err)
	}
	v := versions(t, w)
	if v[ms[0].Member] != "3.5.35" || v[ms[1].Member] != "down" || v[ms[2].Member] != "3.4.23" {
		t.Errorf("versions after the halt: %v", v)
	}
	// Quorum: the two running members still serve linearizable writes.
	if _, err := w.h.Cluster.Client(t).Put(t.Context(), "/after-halt", "ok"); err != nil {
		t.Errorf("no quorum after the halt: %v", err)
	}
	j, err := journal.OpenReadOnly(w.eng.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := j.Steps(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	failed := ""
	for _, s := range steps {
		if s.Status == journal.StepFailed {
			failed = s.Key
		}
	}
	if failed != "halt/"+ms[1].ID {
		t.Errorf("failed step in the journal: %q", failed)
	}
}

// TestRollbackAfterFailedInstall: install_version fails on the second
// member; rollback swaps the first back (the cluster version never moved)
// and restarts the second on its old binary; every key is intact.
func TestRollbackAfterFailedInstall(t *testing.T) {
	w, p, before := upgradeWorld(t, "rb")
	ms := memberSteps(p)
	w.h.FailNext("install", ms[1].Member)
	out, err := w.eng.Apply(t.Context(), p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err == nil || out.Status != journal.RunHalted {
		t.Fatalf("apply: %+v %v", out, err)
	}
	rb, err := w.eng.Rollback(t.Context(), out.RunID, RollbackOptions{})
	t.Logf("progress:\n%s", w.out)
	if err != nil || rb.Status != journal.RunRolledBack {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	for m, v := range versions(t, w) {
		if v != "3.4.23" {
			t.Errorf("%s on %s after the rollback", m, v)
		}
	}
	if err := w.h.Cluster.WaitConverged(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, m := range w.h.Cluster.Members {
		sameKeys(t, before, dump(t, m.Client(t)))
	}
}

// TestCanaryPauseHoldsUntilResumed: two clusters, small and medium; the run
// pauses after the small one and the medium one is not touched until the
// run is resumed.
func TestCanaryPauseHoldsUntilResumed(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	a := newWorld(t, "canary", etcdtest.WithVersion("3.6"))
	b := newWorld(t, "second", etcdtest.WithVersion("3.6"), etcdtest.WithName("n"))
	a.fleet.Clusters[0].Labels = map[string]string{"tier": "small"}
	b.fleet.Clusters[0].Labels = map[string]string{"tier": "medium"}
	a.fleet.Clusters = append(a.fleet.Clusters, b.fleet.Clusters[0])
	a.eng.Hooks["second"] = b.eng.Hooks["second"]
	p := a.plan(t, Options{})
	if len(p.Clusters) != 2 || p.Clusters[0].Refused != "" || p.Clusters[1].Refused != "" {
		t.Fatalf("plan: %+v", p.Clusters)
	}
	out, err := a.eng.Apply(t.Context(), p, ApplyOptions{Approve: true})
	if !errors.Is(err, ErrPaused) || out.Status != journal.RunPaused || !strings.Contains(out.Reason, "canary pause after canary") {
		t.Fatalf("apply: %+v %v", out, err)
	}
	if len(a.h.Ops()) == 0 || len(b.h.Ops()) != 0 {
		t.Fatalf("after the canary: canary hooks %v, second cluster hooks %v", a.h.Ops(), b.h.Ops())
	}
	time.Sleep(time.Second) // the pause holds: nothing runs on its own
	if len(b.h.Ops()) != 0 {
		t.Fatalf("the second cluster was touched during the pause: %v", b.h.Ops())
	}
	out, err = a.eng.Resume(t.Context(), out.RunID, ApplyOptions{Approve: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("resume: %+v %v\n%s", out, err, a.out)
	}
	if len(b.h.Ops()) == 0 {
		t.Error("resume did not run the second cluster")
	}
	if v := versions(t, b); v["n0"] != "3.7.3" {
		t.Errorf("second cluster after resume: %v", v)
	}
}

// TestRollbackWithDowngradeAPI: after a finished 3.5 -> 3.6 hop the cluster
// version is 3.6, so binaries cannot simply be swapped back (a 3.5 binary
// refuses a 3.6 cluster); rollback lowers the cluster version with etcd's
// downgrade API first, then swaps, and every key is intact.
func TestRollbackWithDowngradeAPI(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	w := newWorld(t, "down", etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	ctx := t.Context()
	if _, err := seed.V3Keys(ctx, w.h.Cluster.Client(t), "/registry/pods/", 100); err != nil {
		t.Fatal(err)
	}
	if err := w.h.Cluster.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before := dump(t, w.h.Cluster.Members[0].Client(t))
	p := w.plan(t, Options{Target: "3.6.16"})
	if c := p.Clusters[0]; c.Refused != "" {
		t.Fatalf("plan: %q", c.Refused)
	}
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("apply: %+v %v\n%s", out, err, w.out)
	}
	rb, err := w.eng.Rollback(ctx, out.RunID, RollbackOptions{})
	t.Logf("progress:\n%s", w.out)
	if err != nil || rb.Status != journal.RunRolledBack {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	for m, v := range versions(t, w) {
		if v != "3.5.35" {
			t.Errorf("%s on %s after the rollback", m, v)
		}
	}
	if !strings.Contains(w.out.String(), "downgrade enable 3.5") {
		t.Error("rollback did not use the downgrade API")
	}
	if err := w.h.Cluster.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range w.h.Cluster.Members {
		sameKeys(t, before, dump(t, m.Client(t)))
	}
}

// TestRollbackByRestoreNeedsTheFlag: after a finished 3.4 -> 3.5 hop etcd
// has no way down (no downgrade API before 3.6); rollback says how many
// revisions restoring the backup drops and refuses, and with the flag
// restores it on the old binary.
func TestRollbackByRestoreNeedsTheFlag(t *testing.T) {
	hoststub.RequireRestoreTool(t, "3.4")
	etcdtest.RequireVersion(t, "3.5")
	w := newWorld(t, "restore", etcdtest.WithVersion("3.4"))
	ctx := t.Context()
	cli := w.h.Cluster.Client(t)
	if _, err := seed.V3Keys(ctx, cli, "/registry/pods/", 50); err != nil {
		t.Fatal(err)
	}
	before := dump(t, cli)
	p := w.plan(t, Options{Target: "3.5.35"})
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("apply: %+v %v\n%s", out, err, w.out)
	}
	if _, err := cli.Put(ctx, "/written-after-the-upgrade", "x"); err != nil {
		t.Fatal(err)
	}
	_, err = w.eng.Rollback(ctx, out.RunID, RollbackOptions{})
	if err == nil || !strings.Contains(err.Error(), "would drop 1 revisions") || !strings.Contains(err.Error(), "--restore-snapshot") {
		t.Fatalf("rollback without the flag: %v", err)
	}
	if v := versions(t, w); v["m0"] != "3.5.35" {
		t.Fatalf("a refused rollback changed the member: %v", v)
	}
	rb, err := w.eng.Rollback(ctx, out.RunID, RollbackOptions{RestoreSnapshot: true})
	t.Logf("progress:\n%s", w.out)
	if err != nil || rb.Status != journal.RunRolledBack {
		t.Fatalf("rollback with --restore-snapshot: %+v %v", rb, err)
	}
	if v := versions(t, w); v["m0"] != "3.4.23" {
		t.Errorf("after the restore: %v", v)
	}
	after := dump(t, w.h.Cluster.Members[0].Client(t))
	if _, ok := after["/written-after-the-upgrade"]; ok {
		t.Error("the write made after the backup survived the restore")
	}
	for k, v := range before {
		if a, ok := after[k]; !ok || a.value != v.value {
			t.Errorf("key %s after the restore: %+v", k, a)
			break
		}
	}
}

// TestVerifyHookFailureHalts: the operator's verify hook failing after a
// step halts the run there (the seed's lesson: his monitoring saw the
// flapping kubelets his script did not).
func TestVerifyHookFailureHalts(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	w := newWorld(t, "verify", etcdtest.WithVersion("3.6"))
	p := w.plan(t, Options{})
	w.h.FailNext("verify", "")
	out, err := w.eng.Apply(t.Context(), p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err == nil || out.Status != journal.RunHalted || !strings.Contains(out.Reason, "verify hook") || !strings.Contains(out.Reason, p.Clusters[0].Steps[0].ID) {
		t.Fatalf("apply: %+v %v", out, err)
	}
	for _, op := range w.h.Ops() {
		if strings.HasPrefix(op, "stop ") {
			t.Errorf("a member was stopped after the verify hook failed: %v", w.h.Ops())
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/leases"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
	"github.com/etcdaudit/etcdaudit/results"
)

// The kill tests drive etcdaudit as a user does: `remediate apply` is its
// own process, killed with SIGKILL while a data step is half done (frozen
// there by a holdGate, see faultproxy_test.go), then `remediate resume`
// must reach the end state an uninterrupted run reaches.

// lastStep returns the newest journal record of step key in run.
func lastStep(t *testing.T, state, runID, key string) journal.StepRecord {
	t.Helper()
	j, err := journal.OpenReadOnly(state)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	recs, err := j.Steps(runID)
	if err != nil {
		t.Fatal(err)
	}
	var out journal.StepRecord
	for _, r := range recs {
		if r.Key == key {
			out = r
		}
	}
	if out.Key == "" {
		t.Fatalf("run %s has no record of step %s", runID, key)
	}
	return out
}

// resume runs `remediate resume RUN --approve` in-process and wants it done.
func resume(t *testing.T, runID, fleet, state string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, "remediate", "resume", runID, "-f", fleet, "--approve", "--state-dir", state)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("resume:\n%s", stdout)
	return stdout
}

// legacyCluster is a 3-member 3.5.35 cluster with --enable-v2 holding
// 1,765 v2 keys (160 with a TTL) in /registry (8 directories) and
// /legacy-app, whose writers' hooks call stop and start. It returns the
// v2 keys and values, and the /registry keys in the order a walk reaches
// them.
func legacyCluster(t *testing.T, stop, start func()) (*hoststub.Host, map[string]string, []string) {
	t.Helper()
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2())
	h.SetWriter(hoststub.WriterFuncs{
		Stop:    func(context.Context) error { stop(); return nil },
		Start:   func(context.Context) error { start(); return nil },
		Backend: func(context.Context, string) error { return nil },
	})
	ctx := t.Context()
	hc, ep := h.Cluster.HTTPClient(), h.Cluster.Endpoints()[0]
	if _, err := seed.V2Keys(ctx, hc, ep, seed.V2Spec{Prefix: "/registry", Dirs: 8, Keys: 1600, TTLKeys: 160, JSON: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.V2Keys(ctx, hc, ep, seed.V2Spec{Prefix: "/legacy-app", Keys: 5}); err != nil {
		t.Fatal(err)
	}
	before := v2Values(t, ctx, h.Cluster.Endpoints())
	if len(before) != 1765 {
		t.Fatalf("%d v2 keys seeded", len(before))
	}
	var reg []string
	for k := range before {
		if strings.HasPrefix(k, "/registry/") {
			reg = append(reg, k)
		}
	}
	slices.Sort(reg) // the walk's order: directories sorted, fixed-width names
	return h, before, reg
}

// checkMigrated wants every member on 3.6.16 and every v2 key of before in
// v3 with its value, written once (version 1), leased exactly when it had a
// TTL (with time left), and nothing else under the migrated prefixes.
func checkMigrated(t *testing.T, h *hoststub.Host, before map[string]string) {
	t.Helper()
	ctx := t.Context()
	for _, m := range h.Cluster.Members {
		if v := m.FullVersion(); v != "3.6.16" {
			t.Errorf("%s runs %s", m.Name, v)
		}
	}
	cli := h.Cluster.Client(t)
	got := map[string]*struct {
		value          string
		version, lease int64
	}{}
	for _, p := range []string{"/registry/", "/legacy-app/"} {
		r, err := cli.Get(ctx, p, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range r.Kvs {
			got[string(kv.Key)] = &struct {
				value          string
				version, lease int64
			}{string(kv.Value), kv.Version, kv.Lease}
		}
	}
	if len(got) != len(before) {
		t.Errorf("v3 holds %d keys under the migrated prefixes, v2 held %d", len(got), len(before))
	}
	leases := map[int64]bool{}
	for k, v := range before {
		g := got[k]
		switch {
		case g == nil:
			t.Errorf("v2 key %s missing in v3", k)
			continue
		case g.value != v:
			t.Errorf("v3 %s = %q, v2 held %q", k, g.value, v)
		case g.version != 1:
			t.Errorf("v3 %s written %d times, want once", k, g.version)
		}
		ttl := strings.Contains(k, "/ttlkey-")
		if ttl != (g.lease != 0) {
			t.Errorf("v3 %s lease %x, v2 TTL %v", k, g.lease, ttl)
		}
		if g.lease != 0 {
			leases[g.lease] = true
		}
	}
	for id := range leases {
		r, err := cli.TimeToLive(ctx, clientv3.LeaseID(id))
		if err != nil || r.TTL <= 0 || r.TTL > 3700 {
			t.Errorf("lease %x of copied TTL keys: %+v %v", id, r, err)
		}
	}
}

// killedCopy is a legacyCluster whose apply was killed with SIGKILL in the
// middle of its v2-copy step.
type killedCopy struct {
	h                   *hoststub.Host
	cli                 *clientv3.Client
	before              map[string]string
	fleet, state, runID string
}

const copyStep = "legacy/v2-data/before-3.6/copy"

// killMidCopy plans legacyCluster to 3.6.16 and kills its apply in the
// middle of the copy: frozen as the copy reaches the marker's batch, the
// batches before it were committed (each worker finishes one before it
// takes the next), the marker's was never sent. start is the writers'
// start hook.
func killMidCopy(t *testing.T, start func()) killedCopy {
	t.Helper()
	var g *holdGate
	h, before, reg := legacyCluster(t, func() { g.arm() }, start)
	marker, err := markerKey(reg, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	g = newHoldGate(marker)
	fleet := relayedFleet(t, h, "legacy", g)
	state := filepath.Join(t.TempDir(), "state")
	planPath := planFile(t, fleet, state, "--target", "3.6.16", "--via", "3.5.35")

	ctx := t.Context()
	cli := h.Cluster.Client(t)
	p := startCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	runID := p.killAt(t, g, func() {
		r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || r.Count == 0 || r.Count >= int64(len(reg)) {
			t.Fatalf("v3 holds %v of %d /registry keys at the kill point (%v): want some, not all", r, len(reg), err)
		}
		if r, err := cli.Get(ctx, marker); err != nil || len(r.Kvs) != 0 {
			t.Fatalf("the marker %s is in v3 before its batch was sent: %v %v", marker, r, err)
		}
	})
	if s := lastStep(t, state, runID, copyStep); s.Status != journal.StepRunning {
		t.Fatalf("the killed run's copy step is %s, want running", s.Status)
	}
	return killedCopy{h: h, cli: cli, before: before, fleet: fleet, state: state, runID: runID}
}

// TestRemediateKillMidCopyCLI: etcdaudit is killed with SIGKILL in the
// middle of the v2-copy step (some batches in v3, the rest not); `remediate
// resume` finishes the copy from where it was (keys already in v3 with
// their value count as copied, nothing written twice, no conflict from its
// own partial copy), cleans v2 up and upgrades to 3.6.16, exactly as an
// uninterrupted run does.
func TestRemediateKillMidCopyCLI(t *testing.T) {
	k := killMidCopy(t, func() {})
	ctx, cli, state, runID := t.Context(), k.cli, k.state, k.runID
	atKill, err := cli.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}

	resume(t, runID, k.fleet, state)
	before := k.before
	checkMigrated(t, k.h, before)
	s := lastStep(t, state, runID, copyStep)
	var d struct {
		Report v2data.CopyReport `json:"report"`
	}
	if err := json.Unmarshal(s.Data, &d); err != nil || s.Status != journal.StepDone {
		t.Fatalf("resumed copy step %s: %s (%v)", s.Status, s.Data, err)
	}
	rep := d.Report
	t.Logf("resumed copy: %d keys, %d copied, %d already copied (%d in v3 after the kill)", rep.Keys, rep.Copied, rep.AlreadyCopied, atKill.Count)
	if rep.Keys != len(before) || rep.Copied == 0 || int64(rep.AlreadyCopied) < atKill.Count || rep.Copied+rep.AlreadyCopied != rep.Keys ||
		len(rep.Conflicts) != 0 || len(rep.Written) != rep.Keys || rep.Leased != 160 {
		t.Errorf("resumed copy: %d keys, %d copied, %d already copied (%d in v3 at the kill), %d leased, %d written, conflicts %v",
			rep.Keys, rep.Copied, rep.AlreadyCopied, atKill.Count, rep.Leased, len(rep.Written), rep.Conflicts)
	}
}

// TestRemediateKillMidCleanupCLI: etcdaudit is killed with SIGKILL in the
// middle of the v2-cleanup step (some v2 keys deleted, others not);
// `remediate resume` deletes the rest, and the run goes on to 3.6.16, which
// starts only on a v2 store free of custom data: v3 holds every key, and
// the next scan passes the v2 controls.
func TestRemediateKillMidCleanupCLI(t *testing.T) {
	var g *holdGate
	var h *hoststub.Host
	var marker string
	// The cleanup deletes a key the copy read at the index it still has
	// without asking v3; the marker is rewritten with its own value after
	// the copy, so the cleanup checks it in v3 (through the relay) first.
	h, before, reg := legacyCluster(t, func() {}, func() { rewriteV2(t, h, marker); g.arm() })
	marker, err := markerKey(reg, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	g = newHoldGate(marker)
	fleet := relayedFleet(t, h, "legacy", g)
	state := filepath.Join(t.TempDir(), "state")
	planPath := planFile(t, fleet, state, "--target", "3.6.16", "--via", "3.5.35")

	ctx := t.Context()
	p := startCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	runID := p.killAt(t, g, func() {
		// Frozen as the cleanup checks the marker's batch in v3: the
		// batches before it are deleted from v2, the marker is not.
		left := v2Values(t, ctx, h.Cluster.Endpoints())
		if len(left) == 0 || len(left) >= len(before) {
			t.Fatalf("v2 holds %d of %d keys at the kill point: want some deleted, not all", len(left), len(before))
		}
		if _, ok := left[marker]; !ok {
			t.Fatalf("the marker %s was deleted from v2 before its batch was checked", marker)
		}
	})
	cleanKey := "legacy/v2-data/before-3.6/cleanup"
	if s := lastStep(t, state, runID, cleanKey); s.Status != journal.StepRunning {
		t.Fatalf("the killed run's cleanup step is %s, want running", s.Status)
	}
	left := len(v2Values(t, ctx, h.Cluster.Endpoints()))

	resume(t, runID, fleet, state)
	checkMigrated(t, h, before)
	s := lastStep(t, state, runID, cleanKey)
	var rep v2data.CleanupReport
	if err := json.Unmarshal(s.Data, &rep); err != nil || s.Status != journal.StepDone || rep.Deleted != left || rep.NotCopied.Count != 0 || rep.Changed.Count != 0 {
		t.Errorf("resumed cleanup step %s, %d of the %d keys left deleted: %s (%v)", s.Status, rep.Deleted, left, s.Data, err)
	}

	scanJSON := filepath.Join(t.TempDir(), "scan.json")
	code, stdout, stderr := runCLI(t, "scan", "-f", fleet, "--profile", "full", "--report", "json:"+scanJSON)
	if code != results.ExitPassed && code != results.ExitFailed {
		t.Fatalf("scan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rp := loadJSONReport(t, scanJSON)
	for _, m := range []string{"m0", "m1", "m2"} {
		for _, ctl := range []string{"ETCD-V2-001", "ETCD-V2-002"} {
			if st, msg := statusOf(rp, ctl, "legacy", m); st != results.Passed {
				t.Errorf("%s %s after resume: %s %s", ctl, m, st, msg)
			}
		}
	}
}

// eventsCluster is a 3-member 3.5.35 cluster with 600 leased and 2,400
// unleased events keys, each with its own value. It returns the values
// and the unleased keys in the order the attach walk reaches them.
func eventsCluster(t *testing.T, probe hoststub.Probe) (*hoststub.Host, *clientv3.Client, map[string]string, []string) {
	t.Helper()
	etcdtest.RequireVersion(t, "3.5")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	h.SetProbe(probe)
	cli := h.Cluster.Client(t)
	ctx := t.Context()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var unleased []string
	var ops []clientv3.Op
	flush := func() {
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range 3000 {
		k := fmt.Sprintf("%sns-%d/pod-%05d.%x", eventsPrefix, i%6, i, i*7919)
		v := fmt.Sprintf(`{"kind":"Event","metadata":{"name":"pod-%05d"},"count":%d}`, i, i)
		var opts []clientv3.OpOption
		if i%5 == 0 {
			opts = append(opts, clientv3.WithLease(lease.ID))
		} else {
			unleased = append(unleased, k)
		}
		want[k] = v
		if ops = append(ops, clientv3.OpPut(k, v, opts...)); len(ops) == 100 {
			flush()
		}
	}
	slices.Sort(unleased)
	return h, cli, want, unleased
}

const eventsPrefix = "/registry/events/"

// armAtFirstVerify is a verify probe that arms *g at its first call: the
// one after the attach plan's backup step, right before the attach.
func armAtFirstVerify(g **holdGate) hoststub.Probe {
	var once sync.Once
	return func(context.Context, string) error {
		once.Do(func() { (*g).arm() })
		return nil
	}
}

// checkLeased wants every key of want under the events prefix with its
// value and a live lease, and no other key there.
func checkLeased(t *testing.T, cli *clientv3.Client, want map[string]string, uncertain map[string]bool) {
	t.Helper()
	ctx := t.Context()
	r, err := cli.Get(ctx, eventsPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) != len(want) {
		t.Errorf("%d keys under %s, want %d", len(r.Kvs), eventsPrefix, len(want))
	}
	leases := map[int64]bool{}
	for _, kv := range r.Kvs {
		k := string(kv.Key)
		if kv.Lease == 0 {
			t.Errorf("%s carries no lease", k)
		}
		leases[kv.Lease] = true
		if w, ok := want[k]; !ok {
			t.Errorf("unexpected key %s", k)
		} else if string(kv.Value) != w && !uncertain[k] {
			t.Errorf("%s = %q, want %q", k, kv.Value, w)
		}
	}
	for id := range leases {
		if lr, err := cli.TimeToLive(ctx, clientv3.LeaseID(id)); err != nil || lr.TTL <= 0 || lr.TTL > 3700 {
			t.Errorf("lease %x: %+v %v", id, lr, err)
		}
	}
}

// attachReport reads the attach step's report from the journal.
func attachReport(t *testing.T, state, runID string) (leases.Report, string) {
	t.Helper()
	s := lastStep(t, state, runID, "events/attach-event-leases/attach")
	var d struct {
		Report leases.Report `json:"report"`
	}
	if len(s.Data) == 0 { // a running step has none yet
		return d.Report, s.Status
	}
	if err := json.Unmarshal(s.Data, &d); err != nil {
		t.Fatalf("attach step data %s: %v", s.Data, err)
	}
	return d.Report, s.Status
}

// TestRemediateKillMidAttachCLI: etcdaudit is killed with SIGKILL in the
// middle of attach-event-leases (some unleased events keys leased, others
// not); `remediate resume` leases the rest: every events key ends with a
// lease and its value unchanged.
func TestRemediateKillMidAttachCLI(t *testing.T) {
	var g *holdGate
	h, cli, want, unleased := eventsCluster(t, armAtFirstVerify(&g))
	marker, err := markerKey(unleased, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	g = newHoldGate(marker)
	fleet := relayedFleet(t, h, "events", g)
	state := filepath.Join(t.TempDir(), "state")
	planPath := planFile(t, fleet, state, "--actions", "attach-event-leases")

	ctx := t.Context()
	unleasedNow := func() int {
		r, err := cli.Get(ctx, eventsPrefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, kv := range r.Kvs {
			if kv.Lease == 0 {
				n++
			}
		}
		return n
	}
	p := startCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	runID := p.killAt(t, g, func() {
		if n := unleasedNow(); n == 0 || n >= len(unleased) {
			t.Fatalf("%d of %d keys unleased at the kill point: want some leased, not all", n, len(unleased))
		}
		if r, err := cli.Get(ctx, marker); err != nil || len(r.Kvs) != 1 || r.Kvs[0].Lease != 0 {
			t.Fatalf("the marker %s was leased before its batch was sent: %v %v", marker, r, err)
		}
	})
	if _, st := attachReport(t, state, runID); st != journal.StepRunning {
		t.Fatalf("the killed run's attach step is %s, want running", st)
	}
	left := unleasedNow()

	resume(t, runID, fleet, state)
	checkLeased(t, cli, want, nil)
	rep, st := attachReport(t, state, runID)
	// A re-put the killed run had sent may land after left was counted.
	if st != journal.StepDone || rep.Keys != len(want) || rep.Attached == 0 || rep.Attached > left || rep.Attached+rep.AlreadyLeased != len(want) {
		t.Errorf("resumed attach step %s: %+v; want at most the %d keys the killed run left unleased attached", st, rep, left)
	}
	t.Logf("resumed attach: %d keys, %d attached, %d already leased (%d unleased after the kill)", rep.Keys, rep.Attached, rep.AlreadyLeased, left)
}

// TestRemediateAttachRaceCLI: the API servers write events keys while
// their leases are attached. One batch's guarded re-put is held between
// the attach's read and its write while the test updates one of its keys
// without a lease (an old client), updates another with a lease (as the
// apiserver does) and deletes a third; a writer updates random events the
// whole time. Every acknowledged write survives: the held re-put fails its
// mod revision compare, the changed unleased key is re-read and leased
// with the new value, the leased one is left alone, the deleted one is not
// brought back.
func TestRemediateAttachRaceCLI(t *testing.T) {
	var g *holdGate
	h, cli, want, unleased := eventsCluster(t, armAtFirstVerify(&g))
	i := slices.Index(unleased, mustMarker(t, unleased))
	if i+2 >= len(unleased) {
		t.Fatalf("marker at the end")
	}
	// The marker is the 49th key of its batch of 128 (the default
	// --max-txn-ops), so the next two are held in the same re-put.
	marker, leasedMeanwhile, deletedMeanwhile := unleased[i], unleased[i+1], unleased[i+2]
	g = newHoldGate(marker)
	fleet := relayedFleet(t, h, "events", g)
	state := filepath.Join(t.TempDir(), "state")
	planPath := planFile(t, fleet, state, "--actions", "attach-event-leases")

	ctx := t.Context()
	wl, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range want {
		if k != marker && k != leasedMeanwhile && k != deletedMeanwhile {
			keys = append(keys, k)
		}
	}
	w := &eventsWriter{cli: cli, keys: keys, lease: wl.ID, last: map[string]string{}, uncertain: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx) })
	defer func() { w.stop.Store(true); wg.Wait() }()

	p := startCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	select {
	case <-g.held():
	case <-p.exited:
		t.Fatalf("apply ended before the marker's batch:\n%s", p.output())
	}
	if _, err := cli.Put(ctx, marker, "rewritten-unleased"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, leasedMeanwhile, "rewritten-leased", clientv3.WithLease(wl.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, deletedMeanwhile); err != nil {
		t.Fatal(err)
	}
	want[marker], want[leasedMeanwhile] = "rewritten-unleased", "rewritten-leased"
	delete(want, deletedMeanwhile)
	g.release(false)
	<-p.exited
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("apply: %v\n%s", p.cmd.ProcessState, p.output())
	}
	w.stop.Store(true)
	wg.Wait()
	if w.acked.Load() == 0 {
		t.Fatalf("the writer wrote nothing")
	}
	w.mu.Lock()
	for k, v := range w.last {
		want[k] = v
	}
	w.mu.Unlock()
	checkLeased(t, cli, want, w.uncertain)
	if r, err := cli.Get(ctx, leasedMeanwhile); err != nil || len(r.Kvs) != 1 || r.Kvs[0].Lease != int64(wl.ID) {
		t.Errorf("%s, leased by its writer meanwhile, was re-leased by the attach: %v %v", leasedMeanwhile, r, err)
	}
	rep, st := attachReport(t, state, p.runID)
	if st != journal.StepDone || rep.Retried == 0 || rep.Gone == 0 {
		t.Errorf("attach step %s: %+v; want a retried and a gone key", st, rep)
	}
	t.Logf("attach report: %+v", rep)
}

func mustMarker(t *testing.T, keys []string) string {
	t.Helper()
	m, err := markerKey(keys, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRemediateKillMidCopyRollbackCLI: etcdaudit is killed with SIGKILL in
// the middle of the v2-copy step, and the operator rolls back instead of
// resuming: the journal has no list of what the killed copy wrote, so
// rollback finds it (v2 keys that v3 holds with the identical value, which
// the conflict check and the stopped writers make the copy's), deletes
// exactly those by key and mod revision, keeps a v3 key that holds another
// value, and starts the writers again. v2 is untouched throughout.
func TestRemediateKillMidCopyRollbackCLI(t *testing.T) {
	var starts atomic.Int32
	k := killMidCopy(t, func() { starts.Add(1) })
	ctx := t.Context()
	// Not the copy's: a key someone put into v3 after the kill, with
	// another value than its v2 one.
	var other string
	for key := range k.before {
		if strings.HasPrefix(key, "/registry/") {
			if r, err := k.cli.Get(ctx, key); err != nil || len(r.Kvs) == 0 {
				other = key
				break
			}
		}
	}
	if _, err := k.cli.Put(ctx, other, "written in v3 by someone else"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "remediate", "rollback", k.runID, "-f", k.fleet, "--state-dir", k.state)
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("rollback:\n%s", stdout)
	for _, p := range []string{"/registry/", "/legacy-app/"} {
		r, err := k.cli.Get(ctx, p, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if p == "/registry/" {
			want = 1
		}
		if len(r.Kvs) != want {
			t.Errorf("v3 under %s after rollback: %d keys, want %d (%s, not the copy's)", p, len(r.Kvs), want, other)
		}
		for _, kv := range r.Kvs {
			if string(kv.Key) != other || string(kv.Value) != "written in v3 by someone else" {
				t.Errorf("v3 %s = %q left by the rollback", kv.Key, kv.Value)
			}
		}
	}
	if s := lastStep(t, k.state, k.runID, copyStep); s.Status != journal.StepRolledBack || !strings.Contains(s.Note, "interrupted") {
		t.Errorf("copy step after rollback: %s %q", s.Status, s.Note)
	}
	if starts.Load() != 1 {
		t.Errorf("the writers were started %d times by the rollback, want once", starts.Load())
	}
	after := v2Values(t, ctx, k.h.Cluster.Endpoints())
	if !maps.Equal(after, k.before) {
		t.Errorf("v2 changed: %d keys after, %d before", len(after), len(k.before))
	}
}

// rewriteV2 sets a v2 key to the value it holds: the same data at a new
// modified index.
func rewriteV2(t *testing.T, h *hoststub.Host, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kapi, err := v2data.NewKeysAPI(h.Cluster.Endpoints()[:1], &http.Transport{DisableKeepAlives: true}, 0)
	if err != nil {
		t.Error(err)
		return
	}
	r, err := kapi.Get(ctx, key, nil)
	if err == nil {
		_, err = kapi.Set(ctx, key, r.Node.Value, &client.SetOptions{PrevIndex: r.Node.ModifiedIndex})
	}
	if err != nil {
		t.Errorf("rewrite v2 %s: %v", key, err)
	}
}

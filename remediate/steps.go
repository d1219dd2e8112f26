package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate/backup"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/lock"
	"github.com/etcdaudit/etcdaudit/results"
)

// Default waits of the steps.
const (
	defaultMemberTimeout  = 2 * time.Minute
	defaultVersionTimeout = 2 * time.Minute
)

// forceSnapshotKey is the key the force-snapshot step puts and deletes: the
// keyspace is the same afterwards.
const forceSnapshotKey = "/etcdaudit/remediate/force-snapshot"

// clusterRun is one cluster being worked on.
type clusterRun struct {
	e     *Engine
	j     *journal.Journal
	run   journal.Run
	c     *ClusterPlan
	ic    inventory.Cluster
	hooks *hooks.Runner
	pr    *probe
	urls  map[uint64]string // member id -> client URL
	// short is set when the plan stops before the baseline target: the
	// version controls may still fail after it.
	short bool
}

// openCluster takes the cluster's lock and connects to its members: what an
// apply and a rollback both need before touching anything. release gives
// both back; a lock that cannot be released is joined to *err, since the
// next run of that cluster would wait for its lease.
func (e *Engine) openCluster(ctx context.Context, j *journal.Journal, run journal.Run, c *ClusterPlan) (cr *clusterRun, lk *lock.Lock, release func(err *error), err error) {
	ic, err := e.inventoryCluster(c.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	lk, closeLock, err := e.acquire(ctx, c.Name, run.ID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	var pr *probe
	release = func(err *error) {
		if pr != nil {
			pr.close()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := lk.Release(rctx); rerr != nil {
			*err = errors.Join(*err, fmt.Errorf("release lock of %s: %w", c.Name, rerr))
		}
		closeLock()
	}
	fail := func(e error) (*clusterRun, *lock.Lock, func(*error), error) {
		release(&e)
		return nil, nil, nil, e
	}
	conn, err := inventory.Connect(ic)
	if err != nil {
		return fail(err)
	}
	if pr, err = newProbe(ic, conn); err != nil {
		return fail(err)
	}
	cr = &clusterRun{e: e, j: j, run: run, c: c, ic: ic, hooks: e.Hooks[c.Name], pr: pr, urls: map[uint64]string{}}
	if cr.hooks == nil {
		cr.hooks = hooks.NewRunner(ic.Hooks, hooks.Options{Timeouts: ic.HookTimeouts})
	}
	for _, m := range c.Facts.Members {
		id, err := strconv.ParseUint(m.ID, 16, 64)
		if err != nil {
			return fail(fmt.Errorf("cluster %s: member %s: id %q: %w", c.Name, m.Name, m.ID, err))
		}
		cr.urls[id] = m.ClientURL
	}
	return cr, lk, release, nil
}

func (e *Engine) runCluster(ctx context.Context, j *journal.Journal, run journal.Run, p *Plan, c *ClusterPlan) (err error) {
	cr, lk, release, err := e.openCluster(ctx, j, run, c)
	if err != nil {
		return err
	}
	defer release(&err)
	cr.short = p.Target != p.BaselineTarget
	recs, err := j.Steps(run.ID)
	if err != nil {
		return err
	}
	done := map[string]journal.StepRecord{}
	next := 0
	for _, r := range recs {
		done[r.Key] = r
		next = max(next, r.Index+1)
	}
	// The re-scan's baseline: what passes before the cluster is touched.
	var before *results.Report
	if len(recs) == 0 || !anyKeyPrefix(recs, c.Name+"/") {
		if before, err = e.scan(ctx, c.Name); err != nil {
			return err
		}
		if err := cr.put(journal.StepRecord{Index: next, Key: c.Name + "/baseline", Status: journal.StepDone, Started: time.Now().UTC(), Ended: time.Now().UTC(), Data: mustJSON(passedControls(before))}); err != nil {
			return err
		}
		next++
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		key := c.Name + "/" + s.ID
		if r, ok := done[key]; ok && (r.Status == journal.StepDone || r.Status == journal.StepSkipped) {
			continue
		}
		// A lock whose lease expired may be someone else's now: stop
		// before the next step rather than act beside another remediator.
		select {
		case <-lk.Lost():
			return fmt.Errorf("cluster %s: %w before step %s (the coordination etcd's lease expired): nothing more was done; resume once it is healthy", c.Name, ErrLockLost, s.ID)
		default:
		}
		idx := next
		if r, ok := done[key]; ok {
			idx = r.Index
		} else {
			next++
		}
		if err := cr.step(ctx, idx, i, s); err != nil {
			return err
		}
	}
	return cr.rescan(ctx, next, done)
}

func anyKeyPrefix(recs []journal.StepRecord, prefix string) bool {
	for _, r := range recs {
		if strings.HasPrefix(r.Key, prefix) {
			return true
		}
	}
	return false
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (cr *clusterRun) put(r journal.StepRecord) error {
	r.RunID = cr.run.ID
	return cr.j.PutStep(r)
}

// step runs one step: journaled before and after; skipped when the live
// state shows it done already; its postconditions and the verify hook
// checked after.
func (cr *clusterRun) step(ctx context.Context, idx, i int, s *Step) error {
	c := cr.c
	key := c.Name + "/" + s.ID
	started := time.Now().UTC()
	rec := journal.StepRecord{Index: idx, Key: key, Status: journal.StepRunning, Started: started}
	if err := cr.put(rec); err != nil {
		return err
	}
	label := fmt.Sprintf("cluster %s  step %d/%d %s", c.Name, i+1, len(c.Steps), s.Kind)
	if s.Member != "" {
		label += " " + s.Member
	}
	if s.From != "" && s.To != "" && s.From != s.To {
		label += " " + s.From + " -> " + s.To
	}
	cr.e.printf("%s: started", label)
	fail := func(err error) error {
		rec.Status, rec.Ended, rec.Note = journal.StepFailed, time.Now().UTC(), err.Error()
		if perr := cr.put(rec); perr != nil {
			err = errors.Join(err, perr)
		}
		cr.e.printf("%s: FAILED after %s: %v", label, time.Since(started).Round(100*time.Millisecond), err)
		return fmt.Errorf("cluster %s step %s: %w", c.Name, s.ID, err)
	}
	already, err := cr.isDone(ctx, s)
	if err != nil {
		return fail(err)
	}
	if already {
		rec.Note = "already done: " + strings.Join(s.Postconditions, "; ")
	} else {
		stop := cr.e.watch(label, time.Duration(s.Expected), started)
		err := cr.do(ctx, s, &rec)
		stop()
		if err != nil {
			return fail(err)
		}
	}
	if cr.hooks.Has(hookVerify) {
		res, err := cr.hooks.Run(ctx, hookVerify, StepVars(c.Name, cr.run.ID, s))
		rec.Hooks = append(rec.Hooks, res)
		if err != nil {
			return fail(fmt.Errorf("verify hook: %w", err))
		}
	}
	rec.Status, rec.Ended = journal.StepDone, time.Now().UTC()
	if err := cr.put(rec); err != nil {
		return err
	}
	cr.e.printf("%s: done in %s", label, rec.Ended.Sub(started).Round(100*time.Millisecond))
	return nil
}

// isDone says whether a step's postconditions hold already, so a resumed
// run does not redo it. Restarts and forced snapshots cannot be told from
// the outside: a journal entry that is not done reruns them (harmless).
func (cr *clusterRun) isDone(ctx context.Context, s *Step) (bool, error) {
	switch s.Kind {
	case KindMemberUpgrade:
		st := cr.pr.member(ctx, s.ClientURL)
		return st.healthy() == nil && st.Version == s.To, nil
	case KindWaitClusterVersion:
		return cr.versionReached(ctx, s.To) == nil, nil
	case KindAttachLeases:
		// Every key leased already (a resumed run after the attach).
		g, err := cr.leaseGap(ctx, s.Prefix)
		return err == nil && s.Prefix != "" && g.Unleased == 0, nil
	}
	return false, nil
}

func (cr *clusterRun) do(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	switch s.Kind {
	case KindBackup:
		return cr.backup(ctx, s, rec)
	case KindMemberUpgrade, KindMemberRestart:
		if err := cr.preMember(ctx, s); err != nil {
			return err
		}
		for _, h := range stepHooks(s) {
			if _, opt := optionalHooks[h]; opt && !s.plans(h) {
				continue
			}
			res, err := cr.hooks.Run(ctx, h, StepVars(cr.c.Name, cr.run.ID, s))
			rec.Hooks = append(rec.Hooks, res)
			if err != nil && h == hookCheckV2 {
				return cr.v2CheckFailed(ctx, s, rec, fmt.Errorf("%w%s", err, etcdutlFinding(res.Output)))
			}
			if err != nil {
				return err
			}
		}
		return cr.postMember(ctx, s, s.To)
	case KindForceSnapshot:
		return cr.forceSnapshot(ctx, s)
	case KindPersistIndex:
		return cr.persistIndex(ctx)
	case KindAttachLeases:
		return cr.attachLeases(ctx, s, rec)
	case KindV2Dump:
		return cr.v2Dump(ctx, s, rec)
	case KindV2Copy:
		return cr.v2Copy(ctx, s, rec)
	case KindV2Cleanup:
		return cr.v2Cleanup(ctx, s, rec)
	case KindStopWriters, KindSwitchBackend:
		for _, h := range stepHooks(s) {
			res, err := cr.hooks.Run(ctx, h, StepVars(cr.c.Name, cr.run.ID, s))
			rec.Hooks = append(rec.Hooks, res)
			if err != nil {
				return err
			}
		}
		return cr.allHealthy(ctx)
	case KindWaitClusterVersion:
		return cr.pr.waitFor(ctx, cr.versionTimeout(), "cluster version "+s.To, func(ctx context.Context) error { return cr.versionReached(ctx, s.To) })
	}
	return fmt.Errorf("step kind %q: this build cannot run it", s.Kind)
}

// v2CheckFailed: the stopped member's data dir holds what its first 3.6
// start would refuse or panic on. Nothing is installed yet, so the member
// is started again on its old binary and flags, and the run halts with the
// check's finding: the cluster stays whole on the version it had.
func (cr *clusterRun) v2CheckFailed(ctx context.Context, s *Step, rec *journal.StepRecord, checkErr error) error {
	res, err := cr.hooks.Run(ctx, hookStart, StepVars(cr.c.Name, cr.run.ID, s))
	rec.Hooks = append(rec.Hooks, res)
	if err == nil {
		err = cr.postMember(ctx, s, s.From)
	}
	if err != nil {
		return fmt.Errorf("%w; starting %s again on %s failed too: %v", checkErr, s.Member, s.From, err)
	}
	return fmt.Errorf("%w: %s's data dir holds custom v2 content that %s would refuse or panic on; %s was started again on %s and nothing was installed (plan again from a fresh scan: the v2 data actions, or the forced snapshot, come first)", checkErr, s.Member, s.To, s.Member, s.From)
}

// etcdutlFinding returns " (<etcdutl's verdict>)" from a check_v2store
// hook's output ("Error: detected custom content in v2store"), "" when the
// output has none: the halt reason says what was found, not only that the
// hook failed.
func etcdutlFinding(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "detected custom"); i >= 0 {
			return " (" + strings.TrimSpace(l[i:]) + ")"
		}
	}
	return ""
}

func (cr *clusterRun) memberTimeout() time.Duration {
	if cr.e.MemberTimeout > 0 {
		return cr.e.MemberTimeout
	}
	return defaultMemberTimeout
}

func (cr *clusterRun) versionTimeout() time.Duration {
	if cr.e.VersionTimeout > 0 {
		return cr.e.VersionTimeout
	}
	return defaultVersionTimeout
}

// preMember: every member healthy, the step's member caught up with the
// leader. Before stopping a member, the others must keep quorum.
func (cr *clusterRun) preMember(ctx context.Context, s *Step) error {
	return cr.pr.waitFor(ctx, cr.memberTimeout(), "every member healthy and "+s.Member+" caught up", func(ctx context.Context) error {
		for id, u := range cr.urls {
			if st := cr.pr.member(ctx, u); st.healthy() != nil {
				return fmt.Errorf("member %x (%s): %w", id, u, st.healthy())
			}
		}
		return cr.caughtUp(ctx, s.ClientURL)
	})
}

func (cr *clusterRun) caughtUp(ctx context.Context, u string) error {
	la, err := cr.pr.leaderApplied(ctx, cr.urls)
	if err != nil {
		return err
	}
	st := cr.pr.member(ctx, u)
	if err := st.healthy(); err != nil {
		return err
	}
	if st.Applied < la {
		return fmt.Errorf("%s applied index %d behind the leader's %d", u, st.Applied, la)
	}
	return nil
}

// postMember: the member is back, healthy, caught up and on version.
func (cr *clusterRun) postMember(ctx context.Context, s *Step, version string) error {
	return cr.pr.waitFor(ctx, cr.memberTimeout(), fmt.Sprintf("%s healthy, caught up, on %s", s.Member, version), func(ctx context.Context) error {
		st := cr.pr.member(ctx, s.ClientURL)
		if err := st.healthy(); err != nil {
			return err
		}
		if st.Version != version {
			return fmt.Errorf("%s reports version %s", s.Member, st.Version)
		}
		return cr.caughtUp(ctx, s.ClientURL)
	})
}

// versionReached: every member reports the cluster version of line (and,
// 3.6+, the storage version).
func (cr *clusterRun) versionReached(ctx context.Context, line string) error {
	for _, u := range cr.urls {
		st := cr.pr.member(ctx, u)
		if err := st.healthy(); err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		cv, err := etcdversion.Parse(st.Cluster)
		if err != nil || cv.MajorMinor() != line {
			return fmt.Errorf("%s: cluster version %q", u, st.Cluster)
		}
		if etcdversion.AtLeast(line, 3, 6) {
			sv, err := etcdversion.Parse(st.Storage)
			if err != nil || sv.MajorMinor() != line {
				return fmt.Errorf("%s: storage version %q", u, st.Storage)
			}
		}
	}
	return nil
}

func (cr *clusterRun) backup(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	var errs []error
	for id, u := range cr.urls {
		if st := cr.pr.member(ctx, u); st.healthy() != nil {
			errs = append(errs, fmt.Errorf("%x: %w", id, st.healthy()))
			continue
		}
		info, err := cr.snapshotFrom(ctx, u, s.Backup)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec.Backups = append(rec.Backups, info)
		return nil
	}
	return fmt.Errorf("no verified backup: %w", errors.Join(errs...))
}

// snapshotFrom streams a verified snapshot from one member (the snapshot
// RPC answers from whichever member the client talks to: one endpoint).
func (cr *clusterRun) snapshotFrom(ctx context.Context, u, path string) (backup.Info, error) {
	cli, err := clientv3.New(cr.pr.conn.ClientConfig([]string{u}))
	if err != nil {
		return backup.Info{}, fmt.Errorf("client for %s: %w", u, err)
	}
	defer cli.Close()
	return backup.Snapshot(ctx, cli, u, path)
}

// restartedBefore are the members restarted by the member-restart steps of
// the same hop (the steps the force-snapshot step checks).
func (cr *clusterRun) restartedBefore(s *Step) []*Step {
	base := strings.TrimSuffix(s.ID, "/force-snapshot")
	var out []*Step
	for i := range cr.c.Steps {
		if o := &cr.c.Steps[i]; o.Kind == KindMemberRestart && strings.HasPrefix(o.ID, base+"/restart/") {
			out = append(out, o)
		}
	}
	return out
}

// forceSnapshot writes until every restarted member has saved a raft
// snapshot after the first write.
func (cr *clusterRun) forceSnapshot(ctx context.Context, s *Step) error {
	members := cr.restartedBefore(s)
	if len(members) == 0 {
		return fmt.Errorf("no restarted member to check")
	}
	before := map[string]float64{}
	for _, m := range members {
		n, err := cr.pr.snapshots(ctx, m.ClientURL)
		if err != nil {
			return err
		}
		before[m.Member] = n
	}
	kv := cr.pr.cli.KV
	for i := 0; i < SnapshotWrites; i++ {
		wctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
		_, err := kv.Put(wctx, forceSnapshotKey, strconv.Itoa(i))
		if err == nil {
			_, err = kv.Delete(wctx, forceSnapshotKey)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("write %d: %w", i+1, err)
		}
	}
	return cr.pr.waitFor(ctx, cr.memberTimeout(), "a raft snapshot on every restarted member", func(ctx context.Context) error {
		for _, m := range members {
			n, err := cr.pr.snapshots(ctx, m.ClientURL)
			if err != nil {
				return err
			}
			if n <= before[m.Member] {
				return fmt.Errorf("%s saved no snapshot since the writes began (%s %v)", m.Member, snapCountMetric, n)
			}
		}
		return nil
	})
}

// persistIndex puts and deletes forceSnapshotKey once (planner.persistIndex
// says why); running it again is harmless.
func (cr *clusterRun) persistIndex(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
	defer cancel()
	if _, err := cr.pr.cli.KV.Put(wctx, forceSnapshotKey, "index"); err != nil {
		return fmt.Errorf("put %s: %w", forceSnapshotKey, err)
	}
	if _, err := cr.pr.cli.KV.Delete(wctx, forceSnapshotKey); err != nil {
		return fmt.Errorf("delete %s: %w", forceSnapshotKey, err)
	}
	return nil
}

// scan collects and judges one cluster.
func (e *Engine) scan(ctx context.Context, name string) (*results.Report, error) {
	f, err := e.liveFacts(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.Judge(ctx, f)
}

// passedControls are the (control, subject) results that passed.
func passedControls(r *results.Report) []string {
	var out []string
	for _, x := range r.Results {
		if x.Status == results.Passed {
			out = append(out, resultKey(x))
		}
	}
	return out
}

func resultKey(r results.Result) string {
	if r.Member != "" {
		return r.Control + " " + r.Member
	}
	return r.Control
}

// rescan judges the cluster again: the motivating controls must pass and
// nothing that passed before may fail.
func (cr *clusterRun) rescan(ctx context.Context, idx int, recs map[string]journal.StepRecord) error {
	key := cr.c.Name + "/" + rescanKey
	started := time.Now().UTC()
	rec := journal.StepRecord{Index: idx, Key: key, Status: journal.StepRunning, Started: started}
	if r, ok := recs[key]; ok {
		rec.Index = r.Index
	}
	if err := cr.put(rec); err != nil {
		return err
	}
	cr.e.printf("cluster %s  re-scan: started", cr.c.Name)
	f, err := cr.e.liveFacts(ctx, cr.c.Name)
	if err != nil {
		return err
	}
	// The run switched the API servers to etcd3: an inventory that still
	// declares etcd2 is now what is wrong (ETCD-K8S-003 would fail), not
	// the cluster. It is judged as it will be once the inventory says so.
	var inventoryNote string
	if cr.switchedBackend() {
		for i := range f.Clusters {
			if f.Clusters[i].DeclaredBackend == "etcd2" {
				f.Clusters[i].DeclaredBackend = "etcd3"
				inventoryNote = "; set kubernetes_backend: etcd3 for this cluster in the inventory: the API servers write to etcd3 now"
			}
		}
	}
	after, err := cr.e.Judge(ctx, f)
	if err != nil {
		return err
	}
	var was []string
	if b, ok := recs[cr.c.Name+"/baseline"]; ok {
		_ = json.Unmarshal(b.Data, &was)
	} else if r, err := cr.j.Steps(cr.run.ID); err == nil {
		for _, x := range r {
			if x.Key == cr.c.Name+"/baseline" {
				_ = json.Unmarshal(x.Data, &was)
			}
		}
	}
	passedBefore := map[string]bool{}
	for _, k := range was {
		passedBefore[k] = true
	}
	motive := map[string]bool{}
	for _, id := range cr.c.Controls {
		motive[id] = true
	}
	var regressed, still []string
	for _, x := range after.Results {
		if x.Status != results.Failed && x.Status != results.Error {
			continue
		}
		if passedBefore[resultKey(x)] {
			regressed = append(regressed, resultKey(x)+": "+strings.Join(x.Messages, "; "))
		}
		if motive[x.Control] && cr.motivatedByPlannedAction(x.Control) {
			still = append(still, resultKey(x))
		}
	}
	var problems []string
	if len(regressed) > 0 {
		problems = append(problems, "regression: "+strings.Join(regressed, " | "))
	}
	if len(still) > 0 && cr.short {
		cr.e.printf("cluster %s  re-scan: still failing (the plan stops at %s, before the baseline target): %s", cr.c.Name, "its --target", strings.Join(still, " | "))
		still = nil
	}
	if len(still) > 0 {
		problems = append(problems, "still failing: "+strings.Join(still, " | "))
	}
	if len(problems) > 0 {
		rec.Status, rec.Ended, rec.Note = journal.StepFailed, time.Now().UTC(), strings.Join(problems, "; ")
		_ = cr.put(rec)
		cr.e.printf("cluster %s  re-scan: FAILED: %s", cr.c.Name, rec.Note)
		return fmt.Errorf("cluster %s re-scan: %s", cr.c.Name, rec.Note)
	}
	rec.Status, rec.Ended, rec.Note = journal.StepDone, time.Now().UTC(), fmt.Sprintf("%d results, no regression%s", len(after.Results), inventoryNote)
	cr.e.printf("cluster %s  re-scan: done in %s, %s", cr.c.Name, rec.Ended.Sub(started).Round(100*time.Millisecond), rec.Note)
	return cr.put(rec)
}

// switchedBackend says whether the plan points the API servers at etcd3.
func (cr *clusterRun) switchedBackend() bool {
	for _, s := range cr.c.Steps {
		if s.Kind == KindSwitchBackend {
			return true
		}
	}
	return false
}

// motivatedByPlannedAction: a motivating control counts only when its
// action was planned (a control whose action was not planned may still fail).
func (cr *clusterRun) motivatedByPlannedAction(control string) bool {
	for _, n := range cr.c.NotPlanned {
		if n.Control == control {
			return false
		}
	}
	for _, s := range cr.c.Steps {
		for _, id := range s.Controls {
			if id == control {
				return true
			}
		}
	}
	return false
}

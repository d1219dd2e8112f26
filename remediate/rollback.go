package remediate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/remediate/backup"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

// RollbackOptions are rollback's flags.
type RollbackOptions struct {
	// RestoreSnapshot allows restoring the run's first backup when binaries
	// cannot be swapped back; it drops every write made since the backup.
	RestoreSnapshot bool
}

// Rollback returns the run's clusters to the versions they had, newest step
// first: binaries are swapped back while the cluster version has not moved;
// where it has and etcd supports it (3.6 -> 3.5, 3.7 -> 3.6) the downgrade
// API lowers it first; a snapshot is restored only when asked, after saying
// how many revisions that drops.
func (e *Engine) Rollback(ctx context.Context, runID string, o RollbackOptions) (Outcome, error) {
	j, err := journal.Open(e.StateDir)
	if err != nil {
		return Outcome{}, err
	}
	run, err := j.Run(runID)
	if err != nil {
		return Outcome{}, err
	}
	p, err := DecodePlan(run.Plan)
	if err != nil {
		return Outcome{}, fmt.Errorf("run %s: %w", run.ID, err)
	}
	recs, err := j.Steps(run.ID)
	if err != nil {
		return Outcome{}, err
	}
	byKey := map[string]journal.StepRecord{}
	for _, r := range recs {
		byKey[r.Key] = r
	}
	order := e.clusterOrder(p)
	for i := len(order) - 1; i >= 0; i-- {
		c := order[i]
		if !anyKeyPrefix(recs, c.Name+"/") {
			continue
		}
		if err := e.rollbackCluster(ctx, j, run, c, byKey, o); err != nil {
			run.Status, run.Reason = journal.RunHalted, "rollback: "+err.Error()
			_ = j.UpdateRun(run)
			return Outcome{RunID: run.ID, Status: run.Status, Reason: run.Reason}, err
		}
	}
	run.Status, run.Reason, run.Ended = journal.RunRolledBack, "rolled back", time.Now().UTC()
	if err := j.UpdateRun(run); err != nil {
		return Outcome{}, err
	}
	e.printf("run %s: rolled back", run.ID)
	return Outcome{RunID: run.ID, Status: run.Status}, nil
}

func (e *Engine) rollbackCluster(ctx context.Context, j *journal.Journal, run journal.Run, c *ClusterPlan, byKey map[string]journal.StepRecord, o RollbackOptions) (err error) {
	cr, _, release, err := e.openCluster(ctx, j, run, c)
	if err != nil {
		return err
	}
	defer release(&err)
	for i := len(c.Steps) - 1; i >= 0; i-- {
		s := &c.Steps[i]
		r, ok := byKey[c.Name+"/"+s.ID]
		if !ok || r.Status == journal.StepRolledBack {
			continue
		}
		if isDataKind(s.Kind) {
			if err := cr.undoData(ctx, s, r); err != nil {
				return err
			}
			continue
		}
		switch s.Kind {
		case KindMemberUpgrade:
			if err := cr.undoUpgrade(ctx, s, r, byKey, o); err != nil {
				return err
			}
		case KindMemberRestart:
			if err := cr.undoRestart(ctx, s, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// undoUpgrade puts one member back on the step's From version.
func (cr *clusterRun) undoUpgrade(ctx context.Context, s *Step, r journal.StepRecord, byKey map[string]journal.StepRecord, o RollbackOptions) error {
	started := time.Now().UTC()
	label := fmt.Sprintf("cluster %s  rollback %s %s -> %s", cr.c.Name, s.Member, s.To, s.From)
	cr.e.printf("%s: started", label)
	st := cr.pr.member(ctx, s.ClientURL)
	if st.Err == nil && st.Version == s.From {
		return cr.markRolledBack(r, "already on "+s.From, label, started)
	}
	from, err := etcdversion.Parse(s.From)
	if err != nil {
		return err
	}
	cv, err := cr.clusterVersion(ctx)
	if err != nil {
		return err
	}
	if cv.MajorMinor() != from.MajorMinor() {
		if err := cr.downgrade(ctx, cv, from, byKey, o); err != nil {
			return err
		}
		// A restore puts every member back on its old binary already.
		if st := cr.pr.member(ctx, s.ClientURL); st.healthy() == nil && st.Version == s.From {
			return cr.markRolledBack(r, "restored from the backup on "+s.From, label, started)
		}
	}
	back := *s
	back.From, back.To = s.To, s.From
	back.FlagsAdd, back.FlagsDrop = undoFlags(s)
	var results []hooks.Result
	for _, h := range stepHooks(&back) {
		res, err := cr.hooks.Run(ctx, h, StepVars(cr.c.Name, cr.run.ID, &back))
		results = append(results, res)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	if err := cr.postMember(ctx, &back, s.From); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	r.Hooks = append(r.Hooks, results...)
	return cr.markRolledBack(r, "swapped back to "+s.From, label, started)
}

// undoRestart restarts a member the force-snapshot restart left with the
// run's low --snapshot-count and without --enable-v2, with that undone:
// the v2 data rollback that follows needs the v2 API again.
func (cr *clusterRun) undoRestart(ctx context.Context, s *Step, r journal.StepRecord) error {
	started := time.Now().UTC()
	label := fmt.Sprintf("cluster %s  rollback %s flags", cr.c.Name, s.Member)
	back := *s
	back.FlagsAdd, back.FlagsDrop = undoFlags(s)
	if len(back.FlagsAdd)+len(back.FlagsDrop) == 0 {
		return cr.markRolledBack(r, "no flag to restore", label, started)
	}
	cr.e.printf("%s: started", label)
	for _, h := range stepHooks(&back) {
		res, err := cr.hooks.Run(ctx, h, StepVars(cr.c.Name, cr.run.ID, &back))
		r.Hooks = append(r.Hooks, res)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	if err := cr.postMember(ctx, &back, s.From); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	return cr.markRolledBack(r, fmt.Sprintf("restarted with %v, without %v", back.FlagsAdd, back.FlagsDrop), label, started)
}

// undoFlags reverses a step's flag change: what it added is dropped (by
// name), and --enable-v2, which it may have dropped, is turned on again.
// The only other flag a step drops is the run's own low --snapshot-count,
// which no rollback wants back.
func undoFlags(s *Step) (add, drop []string) {
	for _, f := range s.FlagsAdd {
		name, _, _ := strings.Cut(f, "=")
		drop = append(drop, name)
	}
	for _, f := range s.FlagsDrop {
		if f == flagEnableV2 {
			add = append(add, flagEnableV2+"=true")
		}
	}
	return add, drop
}

func (cr *clusterRun) markRolledBack(r journal.StepRecord, note, label string, started time.Time) error {
	r.Status, r.Note, r.Ended = journal.StepRolledBack, note, time.Now().UTC()
	if err := cr.put(r); err != nil {
		return err
	}
	cr.e.printf("%s: done in %s (%s)", label, time.Since(started).Round(100*time.Millisecond), note)
	return nil
}

// clusterVersion is the lowest cluster version the members report.
func (cr *clusterRun) clusterVersion(ctx context.Context) (etcdversion.Version, error) {
	var low etcdversion.Version
	found := false
	for _, u := range cr.urls {
		st := cr.pr.member(ctx, u)
		if st.Err != nil {
			continue
		}
		v, err := etcdversion.Parse(st.Cluster)
		if err != nil {
			continue
		}
		if !found || v.Less(low) {
			low, found = v, true
		}
	}
	if !found {
		return low, fmt.Errorf("no member reports a cluster version")
	}
	return low, nil
}

// downgrade lowers the cluster version to from's minor with etcd's
// downgrade API (3.6+ servers), or restores the run's first backup when
// allowed; otherwise it says what each would cost.
func (cr *clusterRun) downgrade(ctx context.Context, cv, from etcdversion.Version, byKey map[string]journal.StepRecord, o RollbackOptions) error {
	target := from.MajorMinor()
	if cv.AtLeast(3, 6) && cv.Minor == from.Minor+1 && cv.Major == from.Major {
		cr.e.printf("cluster %s: cluster version %s: downgrade enable %s (etcd's downgrade API)", cr.c.Name, cv.MajorMinor(), target)
		mc := pb.NewMaintenanceClient(cr.pr.cli.ActiveConnection())
		for _, a := range []pb.DowngradeRequest_DowngradeAction{pb.DowngradeRequest_VALIDATE, pb.DowngradeRequest_ENABLE} {
			dctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
			_, err := mc.Downgrade(dctx, &pb.DowngradeRequest{Action: a, Version: target + ".0"})
			cancel()
			if err != nil {
				return fmt.Errorf("downgrade %s %s: %w", a, target, err)
			}
		}
		return cr.pr.waitFor(ctx, cr.versionTimeout(), "cluster version "+target, func(ctx context.Context) error {
			v, err := cr.clusterVersion(ctx)
			if err != nil {
				return err
			}
			if v.MajorMinor() != target {
				return fmt.Errorf("cluster version %s", v)
			}
			return nil
		})
	}
	first := cr.firstBackup(byKey)
	if first == nil {
		return fmt.Errorf("cluster version %s moved past %s and etcd has no downgrade API for it; no backup of this run to restore", cv.MajorMinor(), target)
	}
	rev, err := cr.currentRevision(ctx)
	if err != nil {
		return err
	}
	dropped := rev - first.Revision
	msg := fmt.Sprintf("cluster version %s moved past %s and etcd has no downgrade API for it: restoring backup %s (revision %d) would drop %d revisions written since (now at %d)", cv.MajorMinor(), target, first.Path, first.Revision, dropped, rev)
	if !o.RestoreSnapshot {
		return fmt.Errorf("%s: rerun with --restore-snapshot to accept that", msg)
	}
	cr.e.printf("cluster %s: %s", cr.c.Name, msg)
	return cr.restore(ctx, *first)
}

func (cr *clusterRun) firstBackup(byKey map[string]journal.StepRecord) *backup.Info {
	for i := range cr.c.Steps {
		if r, ok := byKey[cr.c.Name+"/"+cr.c.Steps[i].ID]; ok && len(r.Backups) > 0 {
			return &r.Backups[0]
		}
	}
	return nil
}

func (cr *clusterRun) currentRevision(ctx context.Context) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
	defer cancel()
	r, err := cr.pr.cli.Get(gctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return r.Header.Revision, nil
}

// restore stops every member, installs the version each ran before the
// run, restores the snapshot on each through the restore_snapshot hook (with
// that version's tool), and starts them again.
func (cr *clusterRun) restore(ctx context.Context, b backup.Info) error {
	if err := backup.Verify(b.Path, b); err != nil {
		return fmt.Errorf("backup %s no longer verifies: %w", b.Path, err)
	}
	orig := map[string]string{} // member -> version before the run's first upgrade of it
	for _, s := range cr.c.Steps {
		if s.Kind == KindMemberUpgrade && orig[s.Member] == "" {
			orig[s.Member] = s.From
		}
	}
	var steps []*Step
	for i := range cr.c.Facts.Members {
		m := cr.c.Facts.Members[i]
		steps = append(steps, &Step{ID: "rollback/restore/" + m.Name, Member: m.Name, MemberID: m.ID, ClientURL: m.ClientURL, To: orig[m.Name]})
	}
	run := func(h string, s *Step) error {
		v := StepVars(cr.c.Name, cr.run.ID, s)
		v.Snapshot = b.Path
		_, err := cr.hooks.Run(ctx, h, v)
		return err
	}
	for _, phase := range []string{hookStop, hookInstall, "restore_snapshot", hookStart} {
		for _, s := range steps {
			if phase == hookInstall && s.To == "" {
				continue
			}
			if err := run(phase, s); err != nil {
				return fmt.Errorf("restore %s (%s): %w", s.Member, phase, err)
			}
		}
	}
	return nil
}

// WriteStatus prints a run and its steps.
func WriteStatus(w io.Writer, run journal.Run, steps []journal.StepRecord) error {
	fmt.Fprintf(w, "run %s: %s", run.ID, run.Status)
	if run.Reason != "" {
		fmt.Fprintf(w, " (%s)", safe(run.Reason))
	}
	fmt.Fprintf(w, "\n  started %s", run.Started.Format(time.RFC3339))
	if !run.Ended.IsZero() {
		fmt.Fprintf(w, ", ended %s", run.Ended.Format(time.RFC3339))
	}
	if run.Approver != "" {
		fmt.Fprintf(w, ", approved by %s", safe(run.Approver))
	}
	fmt.Fprintln(w)
	for _, s := range steps {
		d := ""
		if !s.Ended.IsZero() && !s.Started.IsZero() {
			d = s.Ended.Sub(s.Started).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "  %-11s %-60s %8s", s.Status, safe(s.Key), d)
		if s.Note != "" {
			fmt.Fprintf(w, "  %s", safe(firstLine(s.Note)))
		}
		fmt.Fprintln(w)
		for _, b := range s.Backups {
			fmt.Fprintf(w, "              backup %s (revision %d, %d keys, sha256 %s)\n", safe(b.Path), b.Revision, b.TotalKeys, b.SHA256)
		}
		for _, h := range s.Hooks {
			if h.ExitCode != 0 {
				fmt.Fprintf(w, "              hook %s exit %d: %s\n", h.Name, h.ExitCode, safe(firstLine(h.Output)))
			}
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

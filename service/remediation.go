package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/atomicfile"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

// Remediator is what `serve --remediate` needs from the remediation engine;
// the cmd layer builds it over the inventory (re-read per call), the
// controls, the hooks and the gate.
type Remediator interface {
	// Plan plans the failing controls of a recorded scan that name a
	// remediation (collecting what the planner needs); nil when there are
	// none.
	Plan(ctx context.Context, rep *results.Report) (*remediate.Plan, error)
	// Engine is the engine that gates and runs plans (lock, backups,
	// journal, verification, halt on regression).
	Engine(ctx context.Context) (*remediate.Engine, error)
}

// Plan statuses in serve. A plan is made per cluster after a scan; the gate
// sends it to auto (run at once), waiting (for a person) or denied.
const (
	PlanWaiting  = "waiting"  // the gate said approve: a person decides
	PlanApproved = "approved" // approved, queued behind a scan or another run
	PlanRunning  = "running"
	PlanDone     = "done"
	PlanFailed   = "failed"   // the run halted; see the journal
	PlanRejected = "rejected" // a person said no
	PlanExpired  = "expired"  // the fleet moved away from the plan, or it is no longer needed
	PlanDenied   = "denied"   // the gate said deny: untouched
	PlanRefused  = "refused"  // the planner cannot plan the cluster safely
)

// StateFileName holds serve's plans and auto-disabled clusters in the
// state directory (the runs themselves are in the journal beside it).
const StateFileName = "serve-remediation.json"

// keepFinished bounds the finished plans kept for the page and the API.
const keepFinished = 200

// PlanRecord is one cluster's plan as serve tracks it.
type PlanRecord struct {
	ID       string   `json:"id"`
	Cluster  string   `json:"cluster"`
	Tier     string   `json:"tier,omitempty"`
	Actions  []string `json:"actions"`
	Controls []string `json:"controls,omitempty"`
	ScanID   string   `json:"scan_id"`
	// Decision is the gate's answer for the plan (deny when any action is
	// denied, approve when any needs a person, auto when all may run alone).
	Decision string                     `json:"decision"`
	Gate     []remediate.ActionDecision `json:"gate,omitempty"`
	// Reason is the gate's reason for Decision, or why the plan ended.
	Reason       string    `json:"reason"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	Approver     string    `json:"approver,omitempty"` // who approved or rejected
	RunID        string    `json:"run_id,omitempty"`
	Fingerprint  string    `json:"fingerprint"`
	// Text is the plan as `remediate plan` prints it; Plan its JSON
	// (etcdaudit.plan/v1, this cluster only).
	Text string          `json:"text"`
	Plan json.RawMessage `json:"plan,omitempty"`
}

// AutoDisabled says why auto runs stopped for a cluster: a failed auto run.
type AutoDisabled struct {
	Since  time.Time `json:"since"`
	RunID  string    `json:"run_id,omitempty"`
	PlanID string    `json:"plan_id,omitempty"`
	Reason string    `json:"reason"`
}

type remState struct {
	Plans        []*PlanRecord           `json:"plans"`
	AutoDisabled map[string]AutoDisabled `json:"auto_disabled"`
}

// remediation is serve's side of auto-remediation: the plan records and the
// auto-disabled clusters, persisted in the state directory after every
// change.
type remediation struct {
	r    Remediator
	path string

	mu    sync.Mutex
	state remState
}

func loadRemediation(r Remediator, stateDir string) (*remediation, error) {
	rm := &remediation{r: r, path: filepath.Join(stateDir, StateFileName), state: remState{AutoDisabled: map[string]AutoDisabled{}}}
	b, err := os.ReadFile(rm.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rm, nil
	case err != nil:
		return nil, fmt.Errorf("remediation state: %w", err)
	}
	if err := json.Unmarshal(b, &rm.state); err != nil {
		return nil, fmt.Errorf("remediation state %s: %w (move it aside to start afresh; the journal keeps the runs)", rm.path, err)
	}
	if rm.state.AutoDisabled == nil {
		rm.state.AutoDisabled = map[string]AutoDisabled{}
	}
	return rm, nil
}

// saveLocked writes the state atomically; rm.mu is held.
func (rm *remediation) saveLocked() error {
	sort.SliceStable(rm.state.Plans, func(i, j int) bool { return rm.state.Plans[i].Created.After(rm.state.Plans[j].Created) })
	n := 0
	kept := rm.state.Plans[:0]
	for _, p := range rm.state.Plans {
		if !active(p.Status) {
			if n++; n > keepFinished {
				continue
			}
		}
		kept = append(kept, p)
	}
	rm.state.Plans = kept
	b, err := json.MarshalIndent(rm.state, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(rm.path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("remediation state: %w", err)
	}
	return nil
}

func active(status string) bool {
	return status == PlanWaiting || status == PlanApproved || status == PlanRunning
}

// update changes the record with id under the lock and saves.
func (rm *remediation) update(id string, fn func(p *PlanRecord) error) (PlanRecord, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, p := range rm.state.Plans {
		if p.ID == id {
			if err := fn(p); err != nil {
				return *p, err
			}
			return *p, rm.saveLocked()
		}
	}
	return PlanRecord{}, errPlanNotFound
}

var errPlanNotFound = errors.New("no plan with that id")

// snapshot copies the records (newest first) and the auto-disabled clusters.
func (rm *remediation) snapshot() ([]PlanRecord, map[string]AutoDisabled) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := make([]PlanRecord, 0, len(rm.state.Plans))
	for _, p := range rm.state.Plans {
		out = append(out, *p)
	}
	ad := make(map[string]AutoDisabled, len(rm.state.AutoDisabled))
	for k, v := range rm.state.AutoDisabled {
		ad[k] = v
	}
	return out, ad
}

func newPlanID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "p" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// onePlan is p narrowed to cluster c.
func onePlan(p *remediate.Plan, c remediate.ClusterPlan) *remediate.Plan {
	q := *p
	q.Clusters = []remediate.ClusterPlan{c}
	return &q
}

func planActions(c *remediate.ClusterPlan) []string {
	var out []string
	for _, s := range c.Steps {
		if !slices.Contains(out, s.Action) {
			out = append(out, s.Action)
		}
	}
	sort.Strings(out)
	return out
}

// combine reduces the gate's answers for a plan's actions to one: deny
// wins, then approve; auto only when every action is auto.
func combine(ds []remediate.ActionDecision) (string, string) {
	for _, want := range []string{remediate.DecisionDeny, remediate.DecisionApprove} {
		var why []string
		for _, d := range ds {
			if d.Decision.Decision == want {
				why = append(why, d.Action+": "+strings.Join(d.Reasons, "; "))
			}
		}
		if len(why) > 0 {
			return want, strings.Join(why, " | ")
		}
	}
	var why []string
	for _, d := range ds {
		why = append(why, d.Action+": "+strings.Join(d.Reasons, "; "))
	}
	return remediate.DecisionAuto, strings.Join(why, " | ")
}

// remediatePass runs after a recorded scan, while the service holds its
// one work slot (no scan runs meanwhile): it plans the scan's failing
// controls, asks the gate per cluster, expires what the fleet moved away
// from, then runs the auto plans and the approved ones, one cluster at a
// time.
func (s *Server) remediatePass(ctx context.Context, rep *results.Report) {
	rm := s.rem
	log := s.log.With("scan_id", rep.ScanID)
	if err := s.planAfterScan(ctx, rep); err != nil {
		s.metrics.remPlanErrors.Inc()
		log.Error("remediation: planning failed", "err", err)
	}
	for {
		if ctx.Err() != nil {
			return
		}
		id := rm.next(PlanApproved, true)
		if id == "" {
			return
		}
		s.runPlan(ctx, id)
	}
}

// next returns the oldest record with status (auto ones first when auto),
// or "".
func (rm *remediation) next(status string, autoFirst bool) string {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	var best *PlanRecord
	for _, p := range rm.state.Plans {
		if p.Status != status {
			continue
		}
		if best == nil || (autoFirst && p.Decision == remediate.DecisionAuto && best.Decision != remediate.DecisionAuto) ||
			((p.Decision == remediate.DecisionAuto) == (best.Decision == remediate.DecisionAuto) && p.Updated.Before(best.Updated)) {
			best = p
		}
	}
	if best == nil {
		return ""
	}
	return best.ID
}

func (s *Server) planAfterScan(ctx context.Context, rep *results.Report) error {
	rm := s.rem
	now := s.cfg.Now().UTC()
	p, err := rm.r.Plan(ctx, rep)
	if err != nil {
		return err
	}
	planned := map[string]bool{}
	var fresh []*PlanRecord
	var eng *remediate.Engine
	if p != nil {
		for _, c := range p.Clusters {
			if len(c.Steps) == 0 && c.Refused == "" {
				continue
			}
			planned[c.Name] = true
			one := onePlan(p, c)
			raw, err := json.Marshal(one)
			if err != nil {
				return err
			}
			var text bytes.Buffer
			_ = remediate.RenderText(&text, one, false)
			rec := &PlanRecord{ID: newPlanID(now), Cluster: c.Name, Tier: c.Tier, Actions: planActions(&c), Controls: c.Controls,
				ScanID: rep.ScanID, Created: now, Updated: now, Fingerprint: c.Fingerprint, Text: text.String(), Plan: raw}
			if c.Refused != "" {
				rec.Status, rec.Decision, rec.Reason = PlanRefused, remediate.DecisionDeny, "the planner refused: "+c.Refused
				fresh = append(fresh, rec)
				continue
			}
			if eng == nil {
				if eng, err = rm.r.Engine(ctx); err != nil {
					return err
				}
			}
			ds, err := eng.Decide(ctx, &c, remediate.ApplyOptions{Mode: remediate.ModeServe})
			if err != nil {
				return fmt.Errorf("gate, cluster %s: %w", c.Name, err)
			}
			rec.Gate = ds
			rec.Decision, rec.Reason = combine(ds)
			switch rec.Decision {
			case remediate.DecisionDeny:
				rec.Status = PlanDenied
			case remediate.DecisionApprove:
				rec.Status = PlanWaiting
			case remediate.DecisionAuto:
				rec.Status = PlanApproved // approved by the gate: runs in this pass
			}
			fresh = append(fresh, rec)
		}
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, old := range rm.state.Plans {
		if old.Status != PlanWaiting && !(old.Status == PlanApproved && old.Decision == remediate.DecisionAuto) {
			continue
		}
		if !planned[old.Cluster] {
			old.Status, old.Updated = PlanExpired, now
			old.StatusReason = fmt.Sprintf("scan %s: no failing control of %s names a remediation any more", rep.ScanID, old.Cluster)
		}
	}
	for _, rec := range fresh {
		if ad, off := rm.state.AutoDisabled[rec.Cluster]; off && rec.Decision == remediate.DecisionAuto {
			rec.Decision, rec.Status = remediate.DecisionApprove, PlanWaiting
			rec.Reason = fmt.Sprintf("auto is disabled for %s since the failed run %s (%s): a person approves, or clears it (POST /api/clusters/%s/auto)",
				rec.Cluster, ad.RunID, ad.Reason, rec.Cluster)
		}
		if same := rm.sameLocked(rec); same != nil {
			// Unchanged fleet, same answer: keep the older record (and its age).
			same.ScanID = rec.ScanID
			if same.Status == PlanDenied || same.Status == PlanRefused {
				same.Updated = now
			}
			continue
		}
		for _, old := range rm.state.Plans {
			if old.Cluster == rec.Cluster && old.Status == PlanWaiting {
				old.Status, old.Updated = PlanExpired, now
				old.StatusReason = fmt.Sprintf("superseded by plan %s from scan %s (the fleet or the gate's answer changed)", rec.ID, rep.ScanID)
			}
		}
		rm.state.Plans = append(rm.state.Plans, rec)
		s.log.Info("remediation: plan made", "plan", rec.ID, "cluster", rec.Cluster, "actions", strings.Join(rec.Actions, ","),
			"decision", rec.Decision, "reason", rec.Reason)
	}
	return rm.saveLocked()
}

// sameLocked finds the record rec repeats: the same cluster, fingerprint,
// actions and answer, still waiting (or denied/refused, shown once).
func (rm *remediation) sameLocked(rec *PlanRecord) *PlanRecord {
	for _, old := range rm.state.Plans {
		if old.Cluster == rec.Cluster && old.Fingerprint == rec.Fingerprint && old.Decision == rec.Decision &&
			slices.Equal(old.Actions, rec.Actions) && old.Status == rec.Status &&
			(old.Status == PlanWaiting || old.Status == PlanDenied || old.Status == PlanRefused) {
			return old
		}
	}
	return nil
}

// runPlan runs an approved (or auto) plan through the engine: the run id is
// recorded before the run starts, so a restart resumes that run rather than
// starting the plan again.
func (s *Server) runPlan(ctx context.Context, id string) {
	rm := s.rem
	now := s.cfg.Now().UTC()
	rec, err := rm.update(id, func(p *PlanRecord) error {
		if p.Status != PlanApproved {
			return fmt.Errorf("plan %s is %s", p.ID, p.Status)
		}
		p.Status, p.Updated = PlanRunning, now
		p.RunID = "serve-" + p.ID
		return nil
	})
	if err != nil {
		s.log.Error("remediation: cannot start plan", "plan", id, "err", err)
		return
	}
	s.execute(ctx, rec, false)
}

// execute applies (or resumes) rec's run and records how it ended.
func (s *Server) execute(ctx context.Context, rec PlanRecord, resume bool) {
	rm := s.rem
	log := s.log.With("plan", rec.ID, "cluster", rec.Cluster, "run", rec.RunID)
	auto := rec.Decision == remediate.DecisionAuto
	o := remediate.ApplyOptions{Approve: true, Mode: remediate.ModeServe, Unattended: auto, NoCanaryPause: true, RunID: rec.RunID}
	if auto {
		o.Approver = "etcdaudit serve (gate: auto)"
	} else {
		o.Approver = rec.Approver
	}
	s.metrics.remRunning.Set(1)
	defer s.metrics.remRunning.Set(0)
	var out remediate.Outcome
	eng, err := rm.r.Engine(ctx)
	if err == nil {
		eng.Log = s.log
		if resume {
			log.Info("remediation: resuming the run serve was in when it stopped")
			out, err = eng.Resume(ctx, rec.RunID, o)
		} else {
			var p *remediate.Plan
			if p, err = remediate.DecodePlan(rec.Plan); err == nil {
				log.Info("remediation: run started", "auto", auto, "approver", o.Approver)
				out, err = eng.Apply(ctx, p, o)
			}
		}
	}
	status, reason := PlanDone, ""
	switch {
	case err == nil:
	case errors.Is(err, remediate.ErrStalePlan):
		status, reason = PlanExpired, err.Error()
	case errors.Is(err, remediate.ErrGateDenied) && out.RunID != "" && !stepsRan(eng, out.RunID):
		status, reason = PlanDenied, "at run time, "+err.Error()
	case ctx.Err() != nil:
		// serve is stopping: the journal says where the run is; the next
		// start resumes it.
		log.Warn("remediation: run interrupted by the stop; resumed at the next start", "err", err)
		return
	default:
		status, reason = PlanFailed, err.Error()
	}
	if out.RunID != "" && out.RunID != rec.RunID {
		rec.RunID = out.RunID
	}
	now := s.cfg.Now().UTC()
	_, uerr := rm.update(rec.ID, func(p *PlanRecord) error {
		p.Status, p.StatusReason, p.Updated, p.RunID = status, reason, now, rec.RunID
		return nil
	})
	if uerr != nil {
		log.Error("remediation: recording the outcome", "err", uerr)
	}
	outcome := status
	if status == PlanDone {
		outcome = "success"
	}
	for _, a := range rec.Actions {
		s.metrics.remRuns.WithLabelValues(a, outcome).Inc()
	}
	if status == PlanFailed {
		log.Error("remediation: run failed", "err", err)
		if auto {
			rm.mu.Lock()
			rm.state.AutoDisabled[rec.Cluster] = AutoDisabled{Since: now, RunID: rec.RunID, PlanID: rec.ID, Reason: reason}
			if serr := rm.saveLocked(); serr != nil {
				log.Error("remediation: recording auto disabled", "err", serr)
			}
			rm.mu.Unlock()
			log.Error("remediation: auto disabled for the cluster until a person clears it", "clear", "POST /api/clusters/"+rec.Cluster+"/auto")
		}
		return
	}
	log.Info("remediation: run ended", "status", status, "reason", reason)
}

// stepsRan reports whether the journal holds a step of the run: a gate
// denial before the first step left the cluster untouched.
func stepsRan(eng *remediate.Engine, runID string) bool {
	if eng == nil {
		return true
	}
	j, err := journal.OpenReadOnly(eng.StateDir)
	if err != nil {
		return true
	}
	steps, err := j.Steps(runID)
	return err != nil || len(steps) > 0
}

// recoverRuns runs at start: a plan recorded running belongs to a serve
// that stopped (or was killed) during its run. Its journal decides: no run
// recorded, nothing was started and the plan expires (the next scan plans
// again); a run done or rolled back ends the plan; a running, paused or
// halted-by-the-stop run is resumed (every step checks whether it is
// already done); a run halted by a failure stays failed.
func (s *Server) recoverRuns(ctx context.Context) {
	rm := s.rem
	recs, _ := rm.snapshot()
	for _, rec := range recs {
		if rec.Status != PlanRunning || ctx.Err() != nil {
			continue
		}
		log := s.log.With("plan", rec.ID, "cluster", rec.Cluster, "run", rec.RunID)
		var run journal.Run
		j, err := journal.OpenReadOnly(s.cfg.StateDir)
		if err == nil {
			run, err = j.Run(rec.RunID)
		}
		now := s.cfg.Now().UTC()
		set := func(status, reason string) {
			if _, err := rm.update(rec.ID, func(p *PlanRecord) error {
				p.Status, p.StatusReason, p.Updated = status, reason, now
				return nil
			}); err != nil {
				log.Error("remediation: recording recovery", "err", err)
			}
			log.Warn("remediation: run found at start", "status", status, "reason", reason)
		}
		switch {
		case errors.Is(err, journal.ErrNotFound) || errors.Is(err, journal.ErrNoJournal):
			set(PlanExpired, "serve stopped before the run started: nothing was done; the next scan plans again")
		case err != nil:
			set(PlanFailed, "journal unreadable at start: "+err.Error())
		case run.Status == journal.RunDone:
			set(PlanDone, "finished before serve stopped")
		case run.Status == journal.RunRolledBack:
			set(PlanFailed, "rolled back: "+run.Reason)
		case run.Status == journal.RunHalted && !strings.Contains(run.Reason, context.Canceled.Error()):
			set(PlanFailed, "halted: "+run.Reason)
		default:
			s.execute(ctx, rec, true)
		}
	}
}

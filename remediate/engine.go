package remediate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/lock"
	"github.com/etcdaudit/etcdaudit/results"
)

// Engine runs plans: apply, resume and rollback share it.
type Engine struct {
	Fleet    *inventory.Fleet
	StateDir string
	Gate     *Gate
	// Hooks are the clusters' hook runners by cluster name.
	Hooks map[string]*hooks.Runner
	// Judge judges facts with the same controls plan used (the re-scan).
	Judge func(ctx context.Context, f *collectors.Facts) (*results.Report, error)
	// Out gets one progress line per step start and end, and one every
	// ProgressEvery (default 10 s) while a step runs.
	Out           io.Writer
	ProgressEvery time.Duration
	Log           *slog.Logger
	// LockEtcd is the coordination etcd for the lock (nil: the one of
	// Fleet.Lock, else a lock file), LockTTL its lease's TTL
	// (lock.DefaultTTL when zero).
	LockEtcd *clientv3.Client
	LockTTL  time.Duration
	// Timeouts of the waits (0: defaults).
	MemberTimeout, VersionTimeout time.Duration
}

// ApplyOptions are apply's and resume's flags.
type ApplyOptions struct {
	Approve       bool
	Approver      string
	AllowTiers    []string
	MaxClusters   int
	NoCanaryPause bool
	// Mode is the gate's input.mode (ModeApply when empty).
	Mode string
	// Unattended runs only what the gate answers auto for (serve's auto
	// runs); approve then stops the run like deny.
	Unattended bool
	// RunID is the id of the run Apply creates (a new one when empty): serve
	// records it before the run starts, so after a crash it resumes that
	// run instead of starting the plan again.
	RunID string
}

// Errors a caller tells apart.
var (
	ErrNotApproved = errors.New("not approved: nothing was done (add --approve after reading the plan)")
	ErrStalePlan   = errors.New("stale plan")
	ErrGateDenied  = errors.New("gate denied")
	ErrPaused      = errors.New("paused")
	ErrHalted      = errors.New("halted")
	// ErrLockLost: the coordination lease behind the cluster's lock expired
	// while the run held it, so another remediator may hold it now.
	ErrLockLost = errors.New("lock lost")
)

// Outcome is how a run ended this time.
type Outcome struct {
	RunID  string
	Status string
	Reason string
}

func newRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// Apply runs an approved plan: it refuses without approval, refuses a
// cluster whose live facts no longer match the plan's fingerprint, asks the
// gate before each cluster, takes the cluster's lock, runs its steps, re-scans
// it, and pauses after the first cluster of each tier unless told not to.
func (e *Engine) Apply(ctx context.Context, p *Plan, o ApplyOptions) (Outcome, error) {
	if !o.Approve {
		return Outcome{}, ErrNotApproved
	}
	order := e.clusterOrder(p)
	if len(order) == 0 {
		return Outcome{Status: journal.RunDone, Reason: "nothing to do: no cluster of the plan has steps"}, nil
	}
	// Stale-plan guard before anything is written anywhere.
	for _, c := range order {
		if err := e.checkFingerprint(ctx, c); err != nil {
			return Outcome{}, err
		}
	}
	j, err := journal.Open(e.StateDir)
	if err != nil {
		return Outcome{}, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return Outcome{}, err
	}
	now := time.Now().UTC()
	id := o.RunID
	if id == "" {
		id = newRunID(now)
	}
	run := journal.Run{ID: id, Plan: raw, Fingerprint: planFingerprint(p), Status: journal.RunRunning, Approver: o.Approver, Started: now}
	if err := j.CreateRun(run); err != nil {
		return Outcome{}, err
	}
	e.printf("run %s: %d clusters, approved by %s", run.ID, len(order), orNone(o.Approver))
	return e.runClusters(ctx, j, run, p, order, o, false)
}

// Resume continues a paused, halted or killed run where its journal says.
func (e *Engine) Resume(ctx context.Context, runID string, o ApplyOptions) (Outcome, error) {
	if !o.Approve {
		return Outcome{}, ErrNotApproved
	}
	j, err := journal.Open(e.StateDir)
	if err != nil {
		return Outcome{}, err
	}
	run, err := j.Run(runID)
	if err != nil {
		return Outcome{}, err
	}
	switch run.Status {
	case journal.RunDone, journal.RunRolledBack:
		return Outcome{RunID: run.ID, Status: run.Status}, fmt.Errorf("run %s is %s: nothing to resume", run.ID, run.Status)
	}
	p, err := DecodePlan(run.Plan)
	if err != nil {
		return Outcome{}, fmt.Errorf("run %s: %w", run.ID, err)
	}
	run.Status, run.Reason = journal.RunRunning, ""
	if err := j.UpdateRun(run); err != nil {
		return Outcome{}, err
	}
	e.printf("run %s: resuming", run.ID)
	return e.runClusters(ctx, j, run, p, e.clusterOrder(p), o, true)
}

// clusterOrder is the plan's clusters with steps, smallest tier first (a
// cluster without a tier goes with medium), plan order within a tier.
func (e *Engine) clusterOrder(p *Plan) []*ClusterPlan {
	var out []*ClusterPlan
	for i := range p.Clusters {
		if c := &p.Clusters[i]; c.Refused == "" && len(c.Steps) > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return tierRank(out[i].Tier) < tierRank(out[j].Tier) })
	return out
}

func tierRank(t string) int {
	for i, x := range inventory.Tiers {
		if x == t {
			return i
		}
	}
	return 1
}

func planFingerprint(p *Plan) string {
	var fs []string
	for _, c := range p.Clusters {
		fs = append(fs, c.Name+"="+c.Fingerprint)
	}
	return strings.Join(fs, ",")
}

// state of one cluster in a run, from the journal.
type clusterState struct{ started, done bool }

func clusterStates(steps []journal.StepRecord) map[string]clusterState {
	out := map[string]clusterState{}
	for _, s := range steps {
		name, rest, _ := strings.Cut(s.Key, "/")
		st := out[name]
		st.started = true
		if rest == rescanKey && s.Status == journal.StepDone {
			st.done = true
		}
		out[name] = st
	}
	return out
}

// rescanKey is the journal key (after "cluster/") of a cluster's re-scan:
// done means the cluster is finished.
const rescanKey = "rescan"

func (e *Engine) runClusters(ctx context.Context, j *journal.Journal, run journal.Run, p *Plan, order []*ClusterPlan, o ApplyOptions, resuming bool) (Outcome, error) {
	finish := func(status, reason string, err error) (Outcome, error) {
		run.Status, run.Reason = status, reason
		if status != journal.RunPaused {
			run.Ended = time.Now().UTC()
		}
		if uerr := j.UpdateRun(run); uerr != nil {
			err = errors.Join(err, uerr)
		}
		e.printf("run %s: %s%s", run.ID, status, prefixed(": ", reason))
		return Outcome{RunID: run.ID, Status: status, Reason: reason}, err
	}
	recs, err := j.Steps(run.ID)
	if err != nil {
		return finish(journal.RunHalted, err.Error(), err)
	}
	states := clusterStates(recs)
	started := 0
	for _, c := range order {
		if states[c.Name].started {
			started++
		}
	}
	tierDone := map[string]bool{}
	for _, c := range order {
		if states[c.Name].done {
			tierDone[c.Tier] = true
		}
	}
	for i, c := range order {
		st := states[c.Name]
		if st.done {
			continue
		}
		if !st.started {
			if err := e.checkFingerprint(ctx, c); err != nil {
				return finish(journal.RunHalted, err.Error(), err)
			}
		}
		var pending []GatePending
		for _, other := range order[i+1:] {
			pending = append(pending, GatePending{Name: other.Name, Tier: other.Tier})
		}
		for _, other := range order[:i] {
			if !states[other.Name].done {
				pending = append(pending, GatePending{Name: other.Name, Tier: other.Tier})
			}
		}
		startedBefore := started
		if st.started {
			startedBefore-- // the gate counts clusters started before this one
		}
		if err := e.gate(ctx, c, pending, startedBefore, o); err != nil {
			return finish(journal.RunHalted, err.Error(), err)
		}
		if !st.started {
			started++
		}
		if err := e.runCluster(ctx, j, run, p, c); err != nil {
			return finish(journal.RunHalted, err.Error(), err)
		}
		states[c.Name] = clusterState{started: true, done: true}
		canary := !tierDone[c.Tier]
		tierDone[c.Tier] = true
		if canary && !o.NoCanaryPause && i+1 < len(order) {
			reason := fmt.Sprintf("canary pause after %s, the first %s cluster: check it, then run `etcdaudit remediate resume %s --approve`", c.Name, orNone(c.Tier), run.ID)
			return finish(journal.RunPaused, reason, ErrPaused)
		}
	}
	return finish(journal.RunDone, "", nil)
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func (e *Engine) printf(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, "%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

func (e *Engine) inventoryCluster(name string) (inventory.Cluster, error) {
	for _, c := range e.Fleet.Clusters {
		if c.Name == name {
			return c, nil
		}
	}
	return inventory.Cluster{}, fmt.Errorf("cluster %s is in the plan but not in the inventory", name)
}

// liveFacts collects one cluster with the full profile (the plan's
// fingerprint needs the v2 and v3 counts).
func (e *Engine) liveFacts(ctx context.Context, name string) (*collectors.Facts, error) {
	ic, err := e.inventoryCluster(name)
	if err != nil {
		return nil, err
	}
	f, err := collectors.Run(ctx, &inventory.Fleet{Name: e.Fleet.Name, Source: e.Fleet.Source, Clusters: []inventory.Cluster{ic}},
		collectors.Options{Profile: collectors.ProfileFull, Logger: e.logger()})
	if err != nil {
		return nil, fmt.Errorf("collect %s: %w", name, err)
	}
	if f.Interrupted != "" || len(f.Clusters) != 1 {
		return nil, fmt.Errorf("collect %s: interrupted: %s", name, f.Interrupted)
	}
	return f, nil
}

func (e *Engine) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// CheckFingerprint refuses (ErrStalePlan) a cluster whose live facts differ
// from the plan's: what Apply checks first, for a caller that must know
// before it queues a run.
func (e *Engine) CheckFingerprint(ctx context.Context, c *ClusterPlan) error {
	return e.checkFingerprint(ctx, c)
}

// checkFingerprint refuses a cluster whose live facts differ from the plan's.
func (e *Engine) checkFingerprint(ctx context.Context, c *ClusterPlan) error {
	f, err := e.liveFacts(ctx, c.Name)
	if err != nil {
		return err
	}
	live := Summarize(&f.Clusters[0])
	if live.Fingerprint() == c.Fingerprint {
		return nil
	}
	diff := c.Facts.Diff(live)
	if len(diff) == 0 {
		diff = []string{"the plan's facts do not match its fingerprint (edited by hand?)"}
	}
	return fmt.Errorf("%w: cluster %s changed since the plan was made (%s): make a new plan", ErrStalePlan, c.Name, strings.Join(diff, "; "))
}

// ActionDecision is the gate's answer for one action of a cluster's plan.
type ActionDecision struct {
	Action string `json:"action"`
	Decision
}

// Decide asks the gate about every action of a cluster's plan on its live
// facts, as the cluster's only one in a run (serve's plans are one cluster
// each). Actions are in name order.
func (e *Engine) Decide(ctx context.Context, c *ClusterPlan, o ApplyOptions) ([]ActionDecision, error) {
	return e.decide(ctx, c, nil, 0, o)
}

func (e *Engine) decide(ctx context.Context, c *ClusterPlan, pending []GatePending, started int, o ApplyOptions) ([]ActionDecision, error) {
	f, err := e.liveFacts(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	ic, _ := e.inventoryCluster(c.Name)
	mode := o.Mode
	if mode == "" {
		mode = ModeApply
	}
	in := GateInput{
		Cluster:  GateCluster{Name: c.Name, Tier: c.Tier, Labels: ic.Labels},
		Facts:    GateFactsFrom(&f.Clusters[0]),
		Run:      GateRun{Pending: pending, ClustersStarted: started},
		Options:  GateOptions{AllowTiers: o.AllowTiers, MaxClusters: o.MaxClusters},
		Mode:     mode,
		Approver: o.Approver,
	}
	if in.Run.Pending == nil {
		in.Run.Pending = []GatePending{}
	}
	if in.Options.AllowTiers == nil {
		in.Options.AllowTiers = []string{}
	}
	if spec := ic.Labels[MaintenanceWindowLabel]; spec != "" {
		w := Window(spec, time.Now())
		in.Cluster.MaintenanceWindow = &w
	}
	actions := map[string]bool{}
	for _, s := range c.Steps {
		actions[s.Action] = true
	}
	names := make([]string, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	out := make([]ActionDecision, 0, len(names))
	for _, a := range names {
		in.Action = a
		d, err := e.Gate.Decide(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, ActionDecision{Action: a, Decision: d})
	}
	return out, nil
}

func (e *Engine) gate(ctx context.Context, c *ClusterPlan, pending []GatePending, started int, o ApplyOptions) error {
	ds, err := e.decide(ctx, c, pending, started, o)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if !d.Allowed() || (o.Unattended && d.Decision.Decision != DecisionAuto) {
			return fmt.Errorf("%w: cluster %s, action %s: %s (%s)", ErrGateDenied, c.Name, d.Action, d.Decision.Decision, strings.Join(d.Reasons, "; "))
		}
		e.printf("gate: cluster %s, action %s: %s (%s)", c.Name, d.Action, d.Decision.Decision, strings.Join(d.Reasons, "; "))
	}
	return nil
}

// holder names this process for the lock.
func holder(runID string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d run %s", host, os.Getpid(), runID)
}

// acquire takes the cluster's lock: in LockEtcd when set, else in the
// coordination etcd of the inventory's lock section (dialled for this lock
// and closed by the returned func after release), else a lock file.
func (e *Engine) acquire(ctx context.Context, cluster, runID string) (*lock.Lock, func(), error) {
	cli, done := e.LockEtcd, func() {}
	if cli == nil && e.Fleet != nil && e.Fleet.Lock != nil {
		lc := *e.Fleet.Lock
		conn, err := inventory.Connect(lc)
		if err != nil {
			return nil, nil, fmt.Errorf("lock etcd %v: %w", lc.Endpoints, err)
		}
		if cli, err = clientv3.New(conn.ClientConfig(lc.Endpoints)); err != nil {
			return nil, nil, fmt.Errorf("lock etcd %v: %w", lc.Endpoints, err)
		}
		done = func() { _ = cli.Close() }
	}
	lk, err := lock.Acquire(ctx, lock.Options{Cluster: cluster, Holder: holder(runID), StateDir: e.StateDir, Etcd: cli, TTL: e.LockTTL})
	if err != nil {
		done()
		return nil, nil, err
	}
	return lk, done, nil
}

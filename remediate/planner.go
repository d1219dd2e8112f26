package remediate

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/results"
)

// Hook names the planner puts in steps (the hook set of the inventory).
const (
	hookStop    = "stop_member"
	hookStart   = "start_member"
	hookInstall = "install_version"
	hookFlags   = "set_flags"
	hookVerify  = "verify"
	hookCheckV2 = "check_v2store"
)

// HookSet renders a cluster's hooks for a plan. The cmd layer backs it with
// the inventory's hooks (remediate/hooks); nil means the fleet has none.
type HookSet interface {
	Has(name string) bool
	// Render returns the hook's argv for the step, secrets redacted.
	Render(name, cluster string, s *Step) ([]string, error)
}

// DataPlanner plans the v2 data actions (migrate-v2-to-v3, cleanup-v2) a hop
// needs before it can run on a cluster that holds custom v2 data: the steps
// it returns go before the hop's first step. Until one is given, such a hop
// is refused with the reason.
type DataPlanner interface {
	PlanV2(c *collectors.ClusterFacts, beforeLine string) ([]Step, error)
}

// Options are the planner's inputs besides the facts.
type Options struct {
	// Target overrides the baseline target version.
	Target string
	// Via are landing versions by minor line (3.5 -> 3.5.35); the baseline
	// minimum of the line otherwise.
	Via map[string]string
	// Actions limits the actions planned (empty: every action asked for by
	// a failing control).
	Actions []string
	// Clusters limits the clusters planned (empty: all).
	Clusters []string
	// BackupDir is where backups go (<state-dir>/backups).
	BackupDir   string
	ToolVersion string
	Now         time.Time
	// Hooks returns a cluster's hooks; nil or a nil HookSet means none.
	Hooks func(cluster string) HookSet
	Data  DataPlanner
}

// MakePlan builds a plan from judged results and the facts they judged. Each
// cluster with a failing control naming a remediation gets its steps, or the
// reason it has none; nothing touches the fleet.
func MakePlan(rep *results.Report, facts *collectors.Facts, fleet *inventory.Fleet, data *UpgradeData, o Options) (*Plan, error) {
	target := o.Target
	if target == "" {
		target = data.Target
	}
	tv, err := etcdversion.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if data.lineIndex(tv.MajorMinor()) < 0 {
		return nil, fmt.Errorf("target %s: line %s is not on the upgrade path %s", target, tv.MajorMinor(), strings.Join(data.Path, " -> "))
	}
	via := map[string]string{}
	for l, v := range data.Minimum {
		via[l] = v
	}
	for l, v := range o.Via {
		pv, err := etcdversion.Parse(v)
		if err != nil || pv.MajorMinor() != l {
			return nil, fmt.Errorf("--via %s: not a %s version", v, l)
		}
		via[l] = v
	}
	via[tv.MajorMinor()] = target
	now := o.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	p := &Plan{Schema: PlanSchema, ToolVersion: o.ToolVersion, CreatedAt: now, Inventory: facts.Inventory, Target: target, BaselineTarget: data.Target, Via: via, Actions: o.Actions}
	if p.Actions == nil {
		p.Actions = []string{}
	}
	motives := failingByCluster(rep)
	only := setOf(o.Clusters)
	for i := range facts.Clusters {
		cf := &facts.Clusters[i]
		if len(only) > 0 && !only[cf.Name] {
			continue
		}
		pl := &planner{data: data, target: tv, via: via, opts: o, now: now, cf: cf}
		if fleet != nil {
			for j := range fleet.Clusters {
				if fleet.Clusters[j].Name == cf.Name {
					pl.inv = &fleet.Clusters[j]
				}
			}
		}
		if o.Hooks != nil {
			pl.hooks = o.Hooks(cf.Name)
		}
		p.Clusters = append(p.Clusters, pl.plan(motives[cf.Name]))
	}
	for name := range only {
		if _, ok := p.Cluster(name); !ok {
			return nil, fmt.Errorf("--clusters: no cluster %s in the facts", name)
		}
	}
	return p, nil
}

// failing is one failing control with a remediation.
type failing struct{ control, action string }

// failingByCluster groups failing results whose control names an action by
// cluster. Fleet-scoped results name their cluster in the message
// ("cluster NAME: ...").
func failingByCluster(rep *results.Report) map[string][]failing {
	action := map[string]string{}
	for _, c := range rep.Controls {
		if c.Remediation != "" && c.Remediation != "none" {
			action[c.ID] = c.Remediation
		}
	}
	out := map[string][]failing{}
	seen := map[string]bool{}
	add := func(cluster, control string) {
		if k := cluster + "\x00" + control; !seen[k] {
			seen[k] = true
			out[cluster] = append(out[cluster], failing{control, action[control]})
		}
	}
	for _, r := range rep.Results {
		if r.Status != results.Failed || action[r.Control] == "" {
			continue
		}
		if r.Cluster != "" {
			add(r.Cluster, r.Control)
			continue
		}
		for _, m := range r.Messages {
			if rest, ok := strings.CutPrefix(m, "cluster "); ok {
				if name, _, ok := strings.Cut(rest, ":"); ok {
					add(name, r.Control)
				}
			}
		}
	}
	for _, fs := range out {
		sort.Slice(fs, func(i, j int) bool { return fs[i].control < fs[j].control })
	}
	return out
}

// planner plans one cluster.
type planner struct {
	data   *UpgradeData
	target etcdversion.Version
	via    map[string]string
	opts   Options
	now    time.Time
	cf     *collectors.ClusterFacts
	inv    *inventory.Cluster
	hooks  HookSet

	cp       ClusterPlan
	controls []string // motivating the upgrade
	// dataControls are the failing controls naming a v2 data action: the
	// data steps a hop needs fix them too.
	dataControls []string
}

// addData adds the v2 data steps a DataPlanner returned: motivated by the
// upgrade's controls and the v2 data controls, which are then planned.
func (pl *planner) addData(steps []Step) {
	ctl := append(append([]string{}, pl.controls...), pl.dataControls...)
	for _, s := range steps {
		s.Controls = ctl
		pl.cp.Steps = append(pl.cp.Steps, s)
	}
	planned := setOf(pl.dataControls)
	kept := pl.cp.NotPlanned[:0]
	for _, n := range pl.cp.NotPlanned {
		if !planned[n.Control] {
			kept = append(kept, n)
		}
	}
	pl.cp.NotPlanned = kept
}

// refusal stops planning a cluster with a reason.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

func (pl *planner) plan(motives []failing) ClusterPlan {
	sum := Summarize(pl.cf)
	pl.cp = ClusterPlan{Name: pl.cf.Name, Facts: sum, Fingerprint: sum.Fingerprint(), Steps: []Step{}}
	if pl.inv != nil {
		pl.cp.Tier = pl.inv.Tier()
	} else if pl.cf.Labels != nil {
		pl.cp.Tier = pl.cf.Labels["tier"]
	}
	want := setOf(pl.opts.Actions)
	byAction := map[string][]string{}
	for _, f := range motives {
		pl.cp.Controls = appendUnique(pl.cp.Controls, f.control)
		if len(want) > 0 && !want[f.action] {
			pl.cp.NotPlanned = append(pl.cp.NotPlanned, NotPlanned{f.control, f.action, "action not asked for (--actions)"})
			continue
		}
		byAction[f.action] = append(byAction[f.action], f.control)
		switch f.action {
		case ActionMigrateV2, ActionSwitchBackend, ActionCleanupV2:
			pl.dataControls = appendUnique(pl.dataControls, f.control)
		}
	}
	for _, f := range motives {
		if byAction[f.action] == nil || f.action == ActionUpgrade || f.action == ActionAttachEventLeases {
			continue
		}
		// The v2 data actions are planned as part of an upgrade hop that
		// needs them, or on their own (dataOnly) when no hop is planned.
		pl.cp.NotPlanned = append(pl.cp.NotPlanned, NotPlanned{f.control, f.action, "this build has no engine for " + f.action})
	}
	if ctl := byAction[ActionAttachEventLeases]; len(ctl) > 0 {
		pl.controls = ctl
		if err := pl.attachLeases(); err != nil {
			pl.cp.Refused = err.Error()
			pl.cp.Steps = []Step{}
			return pl.cp
		}
	}
	pl.controls = byAction[ActionUpgrade]
	if len(pl.controls) > 0 {
		if err := pl.upgrade(); err != nil {
			pl.cp.Refused = err.Error()
			pl.cp.Steps = []Step{}
			return pl.cp
		}
	}
	if err := pl.dataOnly(); err != nil {
		pl.cp.Refused = err.Error()
		pl.cp.Steps = []Step{}
		return pl.cp
	}
	if len(pl.cp.Steps) == 0 {
		return pl.cp
	}
	if err := pl.renderHooks(); err != nil {
		pl.cp.Refused = err.Error()
		pl.cp.Steps = []Step{}
	}
	return pl.cp
}

// member is one member as the upgrade planner tracks it.
type member struct {
	name, id, client, peer string
	v                      etcdversion.Version
	leader                 bool
	facts                  *collectors.MemberFacts
}

// members returns the cluster's members, followers first (by name), the
// leader last, or a refusal when one cannot be planned.
func (pl *planner) members() ([]*member, error) {
	sum := pl.cp.Facts
	var ms []*member
	for i := range pl.cf.Members {
		f := &pl.cf.Members[i]
		switch {
		case !f.Started:
			return nil, refusal{fmt.Sprintf("member %s was added but never started: remove it or start it first", f.Label())}
		case f.IsLearner:
			return nil, refusal{fmt.Sprintf("member %s is a learner: promote or remove it first", f.Label())}
		case !f.Reachable || f.Version == nil || f.Version.Server == "":
			return nil, refusal{fmt.Sprintf("member %s is unreachable or did not report its version: every member must be up to plan an upgrade", f.Label())}
		}
		v, err := etcdversion.Parse(f.Version.Server)
		if err != nil {
			return nil, refusal{fmt.Sprintf("member %s: %v", f.Label(), err)}
		}
		m := &member{name: f.Label(), id: f.ID, v: v, facts: f, leader: f.Label() == sum.Leader}
		m.client = f.Endpoint
		if len(f.ClientURLs) > 0 {
			m.client = f.ClientURLs[0]
		}
		if len(f.PeerURLs) > 0 {
			m.peer = f.PeerURLs[0]
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, refusal{"no members in the facts"}
	}
	if sum.Leader == "" {
		v2only := true
		for _, m := range ms {
			v2only = v2only && !m.v.AtLeast(3, 0)
		}
		if !v2only {
			return nil, refusal{"no member reports a leader: the cluster must have quorum to be upgraded"}
		}
		// etcd 2.x has no v3 status: the facts cannot name the leader.
		pl.cp.Warnings = append(pl.cp.Warnings, "the leader is unknown on etcd 2.x (no v3 status API): members go in name order, and restarting the leader costs one election")
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].leader != ms[j].leader {
			return !ms[i].leader
		}
		return ms[i].name < ms[j].name
	})
	return ms, nil
}

func setOf(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		if x != "" {
			m[x] = true
		}
	}
	return m
}

func appendUnique(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// backupPath is where a step's backup is written.
func (pl *planner) backupPath(stepID string) string {
	dir := pl.opts.BackupDir
	if dir == "" {
		dir = "backups"
	}
	name := pl.now.Format("20060102T150405Z") + "-" + strings.NewReplacer("/", "_", " ", "_").Replace(stepID) + ".db"
	return filepath.Join(dir, safeName(pl.cf.Name), name)
}

// safeName keeps a cluster name usable as one path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// dataOnly plans the v2 data actions on their own when their controls fail
// and no upgrade hop planned them: every member on 3.0–3.5 (the v2 API is
// still served), the v2 store counted on each and holding custom data. The
// cluster stays on its version; the forced snapshot and the --enable-v2
// change belong to the 3.6 hop, whenever it is planned.
func (pl *planner) dataOnly() error {
	if pl.opts.Data == nil || len(pl.dataControls) == 0 {
		return nil
	}
	for _, s := range pl.cp.Steps {
		if s.Action == ActionMigrateV2 {
			return nil
		}
	}
	ms, err := pl.members()
	if err != nil {
		return err
	}
	holders := 0
	for _, m := range ms {
		v2 := m.facts.V2
		if !m.v.AtLeast(3, 0) || m.v.AtLeast(3, 6) || v2 == nil || !v2.Enabled || !v2.Counted {
			return nil // left as not planned: no v2 API to copy from, or not counted
		}
		if v2.Keys > 0 {
			holders++
		}
	}
	if holders == 0 {
		return nil
	}
	steps, err := pl.opts.Data.PlanV2(pl.cf, "")
	if err != nil {
		return refusal{fmt.Sprintf("custom v2 data: %v", err)}
	}
	pl.addData(steps)
	return nil
}

// FailingClusters names the clusters of a judged report with a failing
// control that names a remediation, sorted: what serve plans after a scan.
func FailingClusters(rep *results.Report) []string {
	var out []string
	for name := range failingByCluster(rep) {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Package remediate turns failing controls into a plan a person can read,
// gates it, and applies it cluster by cluster: one step at a time, each
// journaled, each checking whether it is already done, a verified backup
// before anything destructive, and a re-scan after every cluster.
//
// A plan is data before it is action: Plan is written as JSON
// (etcdaudit.plan/v1, schema/plan.schema.json) and as text for people, and it
// carries a fingerprint of the facts it was made from, so apply can refuse a
// plan the fleet has moved away from (terraform's stale-plan guard).
package remediate

import (
	"encoding/json"
	"fmt"
	"time"
)

// PlanSchema names the plan document version. Bump it (and
// schema/plan.schema.json) on any incompatible change.
const PlanSchema = "etcdaudit.plan/v1"

// Actions the planner knows. Controls name them in custom.remediation.
const (
	ActionUpgrade           = "upgrade"
	ActionMigrateV2         = "migrate-v2-to-v3"
	ActionAttachEventLeases = "attach-event-leases"
	ActionSwitchBackend     = "switch-backend"
	ActionCleanupV2         = "cleanup-v2"
)

// Step kinds: what the apply engine does for a step.
const (
	// KindBackup takes a verified v3 snapshot of the cluster.
	KindBackup = "backup"
	// KindMemberUpgrade stops a member, installs the step's version and
	// starts it again (flags changed first when the step says so).
	KindMemberUpgrade = "member-upgrade"
	// KindMemberRestart restarts a member on its version with changed flags.
	KindMemberRestart = "member-restart"
	// KindForceSnapshot writes to the cluster until every member has saved a
	// raft snapshot past the writes (members started with a low
	// --snapshot-count by the restarts before it).
	KindForceSnapshot = "force-snapshot"
	// KindPersistIndex puts and deletes one key so that every member's v3
	// backend records a consistent index past the membership entries at
	// the head of the raft log (see planner.hop, 3.4 -> 3.5).
	KindPersistIndex = "persist-index"
	// KindWaitClusterVersion waits until the cluster (and, 3.6+, storage)
	// version reaches the hop's minor.
	KindWaitClusterVersion = "wait-cluster-version"
	// KindAttachLeases re-puts every key under the step's Prefix that has
	// no lease with a shared lease, each put guarded by the key's mod
	// revision (remediate/leases), then checks every key there is leased.
	KindAttachLeases = "attach-leases"
)

// Plan is the reviewed document apply runs.
type Plan struct {
	Schema      string    `json:"schema"`
	ToolVersion string    `json:"tool_version"`
	CreatedAt   time.Time `json:"created_at"`
	Inventory   string    `json:"inventory"`
	// Target is the version every member is brought to (the baseline target
	// unless the planner was given another).
	Target string `json:"target"`
	// BaselineTarget is the baseline's target when the plan was made: a
	// plan stopping short of it (--target) leaves the version controls
	// failing, which the re-scan then reports without halting.
	BaselineTarget string `json:"baseline_target"`
	// Via are the versions landed on for the lines between a member's and
	// the target's, by minor line.
	Via      map[string]string `json:"via"`
	Actions  []string          `json:"actions"` // the actions asked for
	Clusters []ClusterPlan     `json:"clusters"`
}

// ClusterPlan is one cluster's ordered steps, or the reason it has none.
type ClusterPlan struct {
	Name string `json:"name"`
	Tier string `json:"tier,omitempty"`
	// Fingerprint is the sha256 of Facts' JSON: what apply compares against
	// the live fleet before touching it.
	Fingerprint string       `json:"fingerprint"`
	Facts       FactsSummary `json:"facts"`
	// Controls are the failing controls with a remediation that motivated
	// this cluster's plan.
	Controls []string `json:"controls,omitempty"`
	// Refused is set when the cluster cannot be planned safely; Steps is then
	// empty and apply skips the cluster.
	Refused string `json:"refused,omitempty"`
	// NotPlanned lists failing controls whose action was not planned, with why.
	NotPlanned []NotPlanned `json:"not_planned,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
	Steps      []Step       `json:"steps"`
}

// NotPlanned is a failing control left alone, and why.
type NotPlanned struct {
	Control string `json:"control"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
}

// Step is one unit apply runs, journals and can resume.
type Step struct {
	// ID is stable across runs of the same plan: the journal's key.
	ID          string `json:"id"`
	Action      string `json:"action"`
	Kind        string `json:"kind"`
	Member      string `json:"member,omitempty"`
	MemberID    string `json:"member_id,omitempty"`
	ClientURL   string `json:"client_url,omitempty"`
	PeerURL     string `json:"peer_url,omitempty"`
	From        string `json:"from,omitempty"` // version before an upgrade hop
	To          string `json:"to,omitempty"`   // version after it (minor for wait steps)
	Description string `json:"description"`
	// FlagsAdd and FlagsDrop are the etcd flag changes made before the
	// member next starts ("--snapshot-count=5"; "--enable-v2" by name).
	FlagsAdd       []string   `json:"flags_add,omitempty"`
	FlagsDrop      []string   `json:"flags_drop,omitempty"`
	Preconditions  []string   `json:"preconditions"`
	Postconditions []string   `json:"postconditions"`
	Hooks          []HookCall `json:"hooks,omitempty"`
	Backup         string     `json:"backup,omitempty"` // where the step's backup goes
	// Prefix is the key prefix a data step works on (the events prefix of
	// attach-leases).
	Prefix string `json:"prefix,omitempty"`
	// Destructive steps get a verified backup before they run.
	Destructive bool     `json:"destructive"`
	Expected    Duration `json:"expected_duration"`
	Controls    []string `json:"controls,omitempty"`
}

// plans says whether the reviewed step runs the hook (an optional hook runs
// only where the plan shows it).
func (s *Step) plans(hook string) bool {
	for _, h := range s.Hooks {
		if h.Name == hook {
			return true
		}
	}
	return false
}

// HookCall is a hook as it will run: argv rendered with the step's values,
// secrets redacted.
type HookCall struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
}

// Duration marshals as seconds, so plans read the same in every language.
type Duration time.Duration

// MarshalJSON writes the duration in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want seconds, got %s", b)
	}
	if s < 0 {
		return fmt.Errorf("duration: negative seconds %v", s)
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// Cluster returns the plan of the named cluster.
func (p *Plan) Cluster(name string) (*ClusterPlan, bool) {
	for i := range p.Clusters {
		if p.Clusters[i].Name == name {
			return &p.Clusters[i], true
		}
	}
	return nil, false
}

// DecodePlan reads and checks a plan document.
func DecodePlan(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if p.Schema != PlanSchema {
		return nil, fmt.Errorf("plan: schema %q, want %q", p.Schema, PlanSchema)
	}
	seen := map[string]bool{}
	for _, c := range p.Clusters {
		if c.Name == "" {
			return nil, fmt.Errorf("plan: a cluster without a name")
		}
		if seen["cluster/"+c.Name] {
			return nil, fmt.Errorf("plan: cluster %s twice", c.Name)
		}
		seen["cluster/"+c.Name] = true
		for i, s := range c.Steps {
			if s.ID == "" || s.Kind == "" {
				return nil, fmt.Errorf("plan: cluster %s step %d: missing id or kind", c.Name, i+1)
			}
			if seen[c.Name+"/"+s.ID] {
				return nil, fmt.Errorf("plan: cluster %s: step id %s twice", c.Name, s.ID)
			}
			seen[c.Name+"/"+s.ID] = true
		}
	}
	return &p, nil
}

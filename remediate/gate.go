package remediate

import (
	"context"
	"embed"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/etcdaudit/etcdaudit/collectors"
)

//go:embed gatepolicy/gate.rego
var gateFS embed.FS

// GateQuery is what apply asks the gate policy.
const GateQuery = "data.etcdaudit.gate.decision"

// Gate decisions: exactly one per (cluster, action). auto: serve may run it
// without a person; approve: it runs once a person approves it (the person
// running apply --approve has); deny: it does not run, the reasons say why.
// A gate answering "allow" (the first gate's word) is read as approve.
const (
	DecisionAuto    = "auto"
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
	DecisionAllow   = "allow" // read as DecisionApprove
)

// Gate modes: who asks. ModeApply is a person running apply or resume;
// ModeServe is serve deciding after a scan, and running an auto plan or one a
// person approved over its API (then GateInput.Approver names them).
const (
	ModeApply = "apply"
	ModeServe = "serve"
)

// MaintenanceWindowLabel is the inventory label holding a cluster's window,
// "02:00-06:00" (every day) or "Sat,Sun 02:00-06:00", in UTC.
const MaintenanceWindowLabel = "maintenance-window"

// Gate is a prepared gate policy.
type Gate struct {
	q      rego.PreparedEvalQuery
	source string
}

// NewGate prepares the bundled gate, or the policy in file when given (the
// same package and answer shape).
func NewGate(ctx context.Context, file string) (*Gate, error) {
	name, src := "remediate/gatepolicy/gate.rego", []byte(nil)
	var err error
	if file == "" {
		src, err = gateFS.ReadFile("gatepolicy/gate.rego")
	} else {
		name = file
		src, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	q, err := rego.New(rego.Query(GateQuery), rego.Module(name, string(src))).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("gate %s: %w", name, err)
	}
	return &Gate{q: q, source: name}, nil
}

// GateInput is what the gate decides on: one cluster, one action.
type GateInput struct {
	Cluster GateCluster `json:"cluster"`
	Action  string      `json:"action"`
	Facts   GateFacts   `json:"facts"`
	Run     GateRun     `json:"run"`
	Options GateOptions `json:"options"`
	Mode    string      `json:"mode"` // ModeApply or ModeServe
	// Approver is the person who approved the run ("" for serve's own
	// decision and its auto runs).
	Approver string `json:"approver"`
}

// GateCluster names the cluster and its labels.
type GateCluster struct {
	Name              string            `json:"name"`
	Tier              string            `json:"tier"`
	Labels            map[string]string `json:"labels,omitempty"`
	MaintenanceWindow *GateWindow       `json:"maintenance_window,omitempty"`
}

// GateWindow is the cluster's maintenance window and whether now is in it.
type GateWindow struct {
	Spec  string `json:"spec"`
	Open  bool   `json:"open"`
	Error string `json:"error,omitempty"`
}

// GateFacts are the live facts of the cluster, read just before the gate.
type GateFacts struct {
	Members []GateMember `json:"members"`
}

// GateMember is one member's health as the gate sees it.
type GateMember struct {
	Name      string   `json:"name"`
	Reachable bool     `json:"reachable"`
	Healthy   bool     `json:"healthy"`
	Reason    string   `json:"reason,omitempty"`
	Learner   bool     `json:"learner"`
	Version   string   `json:"version,omitempty"`
	Alarms    []string `json:"alarms"`
}

// GateRun is the run so far.
type GateRun struct {
	// Pending are the run's clusters not done yet, this one excluded.
	Pending         []GatePending `json:"pending"`
	ClustersStarted int           `json:"clusters_started"`
}

// GatePending is a cluster of the run not done yet.
type GatePending struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// GateOptions are apply's gate flags.
type GateOptions struct {
	AllowTiers  []string `json:"allow_tiers"`
	MaxClusters int      `json:"max_clusters"`
}

// Decision is the gate's answer.
type Decision struct {
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
}

// Allowed reports whether a run a person approved may go on: auto or
// approve.
func (d Decision) Allowed() bool {
	return d.Decision == DecisionAuto || d.Decision == DecisionApprove
}

// Decide evaluates the gate. An undefined or malformed answer is an error:
// a broken gate never lets a run through.
func (g *Gate) Decide(ctx context.Context, in GateInput) (Decision, error) {
	v, err := toJSONValue(in)
	if err != nil {
		return Decision{}, err
	}
	rs, err := g.q.Eval(ctx, rego.EvalInput(v))
	if err != nil {
		return Decision{}, fmt.Errorf("gate %s: %w", g.source, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("gate %s: %s is undefined for cluster %s", g.source, GateQuery, in.Cluster.Name)
	}
	var d Decision
	if err := reshape(rs[0].Expressions[0].Value, &d); err != nil {
		return Decision{}, fmt.Errorf("gate %s: answer for cluster %s: %w", g.source, in.Cluster.Name, err)
	}
	switch d.Decision {
	case DecisionAllow:
		d.Decision = DecisionApprove
	case DecisionDeny, DecisionAuto, DecisionApprove:
	default:
		return Decision{}, fmt.Errorf("gate %s: decision %q for cluster %s: want auto, approve or deny", g.source, d.Decision, in.Cluster.Name)
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	return d, nil
}

func toJSONValue(in any) (any, error) {
	var v any
	if err := reshape(in, &v); err != nil {
		return nil, fmt.Errorf("gate input: %w", err)
	}
	return v, nil
}

// GateFactsFrom reduces live cluster facts to the gate's view.
func GateFactsFrom(c *collectors.ClusterFacts) GateFacts {
	gf := GateFacts{Members: []GateMember{}}
	for i := range c.Members {
		m := &c.Members[i]
		gm := GateMember{Name: m.Label(), Reachable: m.Reachable, Learner: m.IsLearner, Alarms: []string{}}
		if m.Version != nil {
			gm.Version = m.Version.Server
		}
		switch {
		case m.Health != nil:
			gm.Healthy, gm.Reason = m.Health.Healthy, m.Health.Reason
		case m.Reachable:
			gm.Reason = "health not collected"
		}
		if m.Alarms != nil {
			for _, a := range m.Alarms.Alarms {
				gm.Alarms = appendUnique(gm.Alarms, a.Alarm)
			}
		}
		gf.Members = append(gf.Members, gm)
	}
	return gf
}

// Window reads a maintenance window label at now (UTC): "HH:MM-HH:MM",
// optionally after comma-separated weekdays ("Sat,Sun 02:00-06:00"). A
// window past midnight ("22:00-02:00") belongs to the day it starts.
func Window(spec string, now time.Time) GateWindow {
	w := GateWindow{Spec: spec}
	now = now.UTC()
	fields := strings.Fields(spec)
	var days, span string
	switch len(fields) {
	case 1:
		span = fields[0]
	case 2:
		days, span = fields[0], fields[1]
	default:
		w.Error = `want "HH:MM-HH:MM" or "Mon,Tue HH:MM-HH:MM" (UTC)`
		return w
	}
	a, b, ok := strings.Cut(span, "-")
	start, err1 := time.Parse("15:04", a)
	end, err2 := time.Parse("15:04", b)
	if !ok || err1 != nil || err2 != nil {
		w.Error = fmt.Sprintf("time span %q: want HH:MM-HH:MM", span)
		return w
	}
	mins := func(t time.Time) int { return t.Hour()*60 + t.Minute() }
	s, e, n := mins(start), mins(end), mins(now)
	day := now.Weekday()
	in := false
	switch {
	case s <= e:
		in = n >= s && n < e
	case n >= s: // past midnight, in the evening part
		in = true
	case n < e: // past midnight, in the morning part: the window began yesterday
		in, day = true, (day+6)%7
	}
	if in && days != "" {
		match := false
		for _, d := range strings.Split(days, ",") {
			wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))]
			if !ok {
				w.Error = fmt.Sprintf("weekday %q: want Mon, Tue, ...", d)
				return w
			}
			match = match || wd == day
		}
		in = match
	}
	w.Open = in
	return w
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

package results

import "time"

// RemediationRun is one remediation run as its journal recorded it, reduced
// to what a drift or a scan report shows beside the changes it caused. It is
// plain data: whoever reads the journal (the CLI) fills it, so reports and
// history never depend on the remediator.
type RemediationRun struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"` // running, paused, halted, done, rolled-back
	Approver string    `json:"approver,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
	Reason   string    `json:"reason,omitempty"` // why halted, paused or rolled back
	// Targets are what the run touched: one per cluster, member ("" for a
	// cluster-wide step) and action, in plan order.
	Targets []RemediationTarget `json:"targets"`
}

// RemediationTarget is one (cluster, member, action) of a run.
type RemediationTarget struct {
	Cluster string `json:"cluster"`
	Member  string `json:"member,omitempty"`
	Action  string `json:"action"`
	// Controls are the failing controls the plan's steps were made for.
	Controls []string `json:"controls,omitempty"`
	// Steps counts the planned steps; Acted those the journal records as
	// done by acting (not found already done), RolledBack those undone.
	Steps      int `json:"steps"`
	Acted      int `json:"acted"`
	RolledBack int `json:"rolled_back,omitempty"`
}

// End is when the run last did something: its end, or its start while it
// has not ended (a run still running, or killed before it could record one).
func (r RemediationRun) End() time.Time {
	if r.Ended.IsZero() {
		return r.Started
	}
	return r.Ended
}

// Between reports whether the run ended (or, not ended, started) after from
// and started before to: what it did can show in a scan at to compared with
// a scan at from.
func (r RemediationRun) Between(from, to time.Time) bool {
	return r.End().After(from) && r.Started.Before(to)
}

// Touches reports whether the run has a target in cluster.
func (r RemediationRun) Touches(cluster string) bool {
	for _, t := range r.Targets {
		if t.Cluster == cluster {
			return true
		}
	}
	return false
}

// Clusters are the clusters the run touched, in target order.
func (r RemediationRun) Clusters() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if !seen[t.Cluster] {
			seen[t.Cluster] = true
			out = append(out, t.Cluster)
		}
	}
	return out
}

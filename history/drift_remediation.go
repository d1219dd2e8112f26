package history

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// RemediationRef names the remediation run (and its action) that explains a
// change: a run that touched the change's cluster (and member) with an
// action that makes this kind of change, and ended between the two scans.
type RemediationRef struct {
	Run      string   `json:"run"`
	Actions  []string `json:"actions"`
	Approver string   `json:"approver,omitempty"`
	Status   string   `json:"status"`
}

// RemediationSeen is a run that ended between the two scans, with how many
// of the drift's changes it explains (0: it changed nothing this drift
// shows, e.g. every step was already done, or it halted before acting).
type RemediationSeen struct {
	results.RemediationRun
	Changes int `json:"changes"`
}

// factActions are the remediation actions that can make a fact change of
// each kind (rollbacks included: a rolled-back upgrade is a downgrade).
var factActions = map[FactKind][]string{
	MemberUpgraded:        {"upgrade"},
	MemberDowngraded:      {"upgrade"},
	ClusterVersionChanged: {"upgrade"},
	MemberUnreachable:     {"upgrade"},
	MemberReachable:       {"upgrade"},
	V2KeysVanished:        {"migrate-v2-to-v3", "cleanup-v2"},
	V2KeysChanged:         {"migrate-v2-to-v3", "cleanup-v2"},
	V2KeysAppeared:        {"migrate-v2-to-v3", "cleanup-v2"},
	V2APIDisabled:         {"upgrade", "cleanup-v2"},
	V2APIEnabled:          {"upgrade", "cleanup-v2"},
	BackendChanged:        {"migrate-v2-to-v3", "switch-backend", "cleanup-v2"},
	LeaseCoverageRose:     {"attach-event-leases", "migrate-v2-to-v3"},
	LeaseCoverageDropped:  {"attach-event-leases", "migrate-v2-to-v3"},
	DBSizeGrew:            {"migrate-v2-to-v3", "attach-event-leases"},
}

// AttachRemediation records in d the remediation runs that ended between
// its two scans (others are ignored) and, beside each control and fact
// change, the runs that explain it: a run that acted on the same cluster
// (and member) with an action that makes that kind of fact change, or, for
// a control that moved (not one still failing), whose steps were made for
// that control or whose action is the control's remediation. The caller passes only runs of the scanned clusters. Calling it
// again replaces what an earlier call attached.
func (d *Drift) AttachRemediation(runs []results.RemediationRun) {
	d.Remediation = nil
	var in []results.RemediationRun
	for _, r := range runs {
		if r.Between(d.From.StartedAt, d.To.StartedAt) {
			in = append(in, r)
		}
	}
	sort.SliceStable(in, func(i, j int) bool { return in[i].End().Before(in[j].End()) })
	count := map[string]int{}
	refs := func(cluster, member string, match func(results.RemediationTarget) bool) []RemediationRef {
		var out []RemediationRef
		counted := map[string]bool{}
		for _, r := range in {
			for _, t := range r.Targets {
				if t.Cluster != cluster || (t.Member != "" && member != "" && t.Member != member) || t.Acted == 0 || !match(t) {
					continue
				}
				i := slices.IndexFunc(out, func(x RemediationRef) bool { return x.Run == r.ID })
				if i < 0 {
					i = len(out)
					out = append(out, RemediationRef{Run: r.ID, Approver: r.Approver, Status: r.Status})
				}
				if !slices.Contains(out[i].Actions, t.Action) {
					out[i].Actions = append(out[i].Actions, t.Action)
				}
				if !counted[r.ID] {
					counted[r.ID] = true
					count[r.ID]++
				}
			}
		}
		return out
	}
	for i := range d.Facts {
		f := &d.Facts[i]
		actions := factActions[f.Kind]
		f.Remediation = refs(f.Cluster, f.Member, func(t results.RemediationTarget) bool { return slices.Contains(actions, t.Action) })
	}
	for i := range d.Controls {
		c := &d.Controls[i]
		c.Remediation = nil
		if c.Transition == StillFailing || c.Transition == StillError {
			continue // nothing changed for a run to explain
		}
		c.Remediation = refs(c.Cluster, c.Member, func(t results.RemediationTarget) bool {
			return slices.Contains(t.Controls, c.Control) || (d.actionOf[c.Control] != "" && d.actionOf[c.Control] == t.Action)
		})
	}
	for _, r := range in {
		d.Remediation = append(d.Remediation, RemediationSeen{RemediationRun: r, Changes: count[r.ID]})
	}
}

func appendRefs(to, refs []RemediationRef) []RemediationRef {
	for _, r := range refs {
		if !slices.ContainsFunc(to, func(x RemediationRef) bool { return x.Run == r.Run }) {
			to = append(to, r)
		}
	}
	return to
}

// refText is one run beside a change: "run ID (action, approved by X)".
func refText(r RemediationRef) string {
	s := "run " + r.Run + " (" + strings.Join(r.Actions, ", ")
	if r.Approver != "" {
		s += ", approved by " + r.Approver
	}
	if r.Status != "done" {
		s += ", " + r.Status
	}
	return s + ")"
}

func renderRefsCLI(ew *errWriter, refs []RemediationRef) {
	for _, r := range refs {
		ew.printf("      ← remediation %s\n", oneLine(refText(r)))
	}
}

// runLine describes a run in the "Remediation" section.
func runLine(r RemediationSeen) string {
	s := fmt.Sprintf("%s  %s", r.ID, r.Status)
	if r.Approver != "" {
		s += ", approved by " + r.Approver
	}
	s += ", ended " + r.End().UTC().Format(time.DateTime+" UTC")
	return s
}

func runTargets(r results.RemediationRun) string {
	var parts []string
	for _, t := range r.Targets {
		p := t.Cluster
		if t.Member != "" {
			p += "/" + t.Member
		}
		p += " " + t.Action + fmt.Sprintf(" (%d of %d steps acted", t.Acted, t.Steps)
		if t.RolledBack > 0 {
			p += fmt.Sprintf(", %d rolled back", t.RolledBack)
		}
		parts = append(parts, p+")")
	}
	return strings.Join(parts, "; ")
}

func runVerdict(r RemediationSeen) string {
	if r.Changes == 0 {
		return "changed nothing this drift shows"
	}
	return fmt.Sprintf("explains %d of the changes above", r.Changes)
}

func renderRunsCLI(ew *errWriter, runs []RemediationSeen) {
	if len(runs) == 0 {
		return
	}
	ew.printf("\nRemediation runs between the scans (%d)\n", len(runs))
	for _, r := range runs {
		ew.printf("  %s: %s\n", oneLine(runLine(r)), runVerdict(r))
		ew.printf("      %s\n", oneLine(runTargets(r.RemediationRun)))
		if r.Reason != "" {
			ew.printf("      %s\n", oneLine(r.Reason))
		}
	}
}

func mdRefs(refs []RemediationRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = mdEscape(refText(r))
	}
	return strings.Join(parts, "; ")
}

func renderRunsMarkdown(ew *errWriter, runs []RemediationSeen) {
	if len(runs) == 0 {
		return
	}
	ew.printf("## Remediation runs between the scans (%d)\n\n| run | status | approver | ended | touched | effect |\n|---|---|---|---|---|---|\n", len(runs))
	for _, r := range runs {
		ew.printf("| %s | %s | %s | %s | %s | %s |\n", mdEscape(r.ID), mdEscape(r.Status), mdEscape(r.Approver),
			r.End().UTC().Format(time.DateTime+" UTC"), mdEscape(runTargets(r.RemediationRun)), runVerdict(r))
	}
	ew.printf("\n")
}

package history

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// DriftSchema names the JSON document `drift -o json` writes.
const DriftSchema = "etcdaudit.drift/v1"

// Transition is how one control's verdict on one subject moved between two
// scans.
type Transition string

const (
	NewlyFailing  Transition = "newly_failing" // worse: failed now, was not
	NewError      Transition = "new_error"     // worse: error now, was not
	StillFailing  Transition = "still_failing"
	StillError    Transition = "still_error"
	Resolved      Transition = "resolved"      // failed or error before, passed now
	NewlyWaived   Transition = "newly_waived"  // failed or error before, waived now
	NewlySkipped  Transition = "newly_skipped" // passed before, skipped now
	FailingGone   Transition = "failing_gone"  // failed or error before, no result now
	transitionNil Transition = ""
)

// Worse reports whether t should make `drift` exit 100.
func (t Transition) Worse() bool { return t == NewlyFailing || t == NewError }

// DriftOptions are the thresholds of the fact changes that matter. Zero
// fields take the defaults.
type DriftOptions struct {
	// LeaseCoverageDelta is the smallest change of the events lease
	// coverage ratio reported (default 0.05, five points).
	LeaseCoverageDelta float64 `json:"lease_coverage_delta"`
	// DBGrowthRatio and DBGrowthMinBytes: a member's db size growth is
	// reported when it grew by at least this share AND this many bytes
	// (defaults 0.20 and 8 MiB), so a tiny db doubling is not news.
	DBGrowthRatio    float64 `json:"db_growth_ratio"`
	DBGrowthMinBytes int64   `json:"db_growth_min_bytes"`
	// CertWarnDays: a serving certificate with fewer days left than this
	// at the newer scan, and not before, is reported (default 30).
	CertWarnDays float64 `json:"cert_warn_days"`
}

// Defaults for DriftOptions.
const (
	DefaultLeaseCoverageDelta = 0.05
	DefaultDBGrowthRatio      = 0.20
	DefaultDBGrowthMinBytes   = 8 << 20
	DefaultCertWarnDays       = 30
)

func (o DriftOptions) withDefaults() DriftOptions {
	if o.LeaseCoverageDelta <= 0 {
		o.LeaseCoverageDelta = DefaultLeaseCoverageDelta
	}
	if o.DBGrowthRatio <= 0 {
		o.DBGrowthRatio = DefaultDBGrowthRatio
	}
	if o.DBGrowthMinBytes <= 0 {
		o.DBGrowthMinBytes = DefaultDBGrowthMinBytes
	}
	if o.CertWarnDays <= 0 {
		o.CertWarnDays = DefaultCertWarnDays
	}
	return o
}

// ScanRef names a scan in a drift document.
type ScanRef struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Inventory string    `json:"inventory,omitempty"`
}

// ControlChange is one control × subject whose verdict moved (or stayed
// failing).
type ControlChange struct {
	Transition Transition     `json:"transition"`
	Control    string         `json:"control"`
	Title      string         `json:"title,omitempty"`
	Cluster    string         `json:"cluster,omitempty"`
	Member     string         `json:"member,omitempty"`
	From       results.Status `json:"from,omitempty"` // empty: no result in the older scan
	To         results.Status `json:"to,omitempty"`   // empty: no result in the newer scan
	Messages   []string       `json:"messages,omitempty"`
	// Remediation names the runs that explain the change (AttachRemediation).
	Remediation []RemediationRef `json:"remediation,omitempty"`
}

// Drift is what changed between two scans.
type Drift struct {
	Schema   string          `json:"schema"`
	From     ScanRef         `json:"from"`
	To       ScanRef         `json:"to"`
	Options  DriftOptions    `json:"options"`
	Worse    bool            `json:"worse"`
	Counts   map[string]int  `json:"counts"` // per transition and fact kind
	Controls []ControlChange `json:"controls"`
	Facts    []FactChange    `json:"facts"`
	// Notes say what could not be compared (a scan recorded without facts).
	Notes []string `json:"notes,omitempty"`
	// Remediation lists the remediation runs that ended between the two
	// scans, each with how many changes it explains (AttachRemediation).
	Remediation []RemediationSeen `json:"remediation,omitempty"`
	// actionOf is each control's remediation action (custom.remediation),
	// for AttachRemediation.
	actionOf map[string]string
}

// Diff computes the drift from one scan to a newer one. It is a pure
// function of its arguments and never modifies them.
func Diff(from, to *results.Report, opts DriftOptions) (*Drift, error) {
	if from == nil || to == nil {
		return nil, errors.New("drift: need two reports")
	}
	opts = opts.withDefaults()
	d := &Drift{
		Schema:   DriftSchema,
		From:     ScanRef{ID: from.ScanID, StartedAt: from.StartedAt.UTC(), Inventory: from.Inventory},
		To:       ScanRef{ID: to.ScanID, StartedAt: to.StartedAt.UTC(), Inventory: to.Inventory},
		Options:  opts,
		Counts:   map[string]int{},
		Controls: diffControls(from, to),
		Facts:    []FactChange{},
		actionOf: map[string]string{},
	}
	for _, rep := range []*results.Report{from, to} {
		for _, c := range rep.Controls {
			if c.Remediation != "" && c.Remediation != "none" {
				d.actionOf[c.ID] = c.Remediation
			}
		}
	}
	if from.Facts == nil || to.Facts == nil {
		for _, r := range []*results.Report{from, to} {
			if r.Facts == nil {
				d.Notes = append(d.Notes, fmt.Sprintf("scan %s holds no facts: fact changes are not compared", r.ScanID))
			}
		}
	} else {
		d.Facts = diffFacts(from.Facts, to.Facts, scanTimes{factsTime(from), factsTime(to)}, opts)
	}
	for _, c := range d.Controls {
		d.Counts[string(c.Transition)]++
		d.Worse = d.Worse || c.Transition.Worse()
	}
	for _, f := range d.Facts {
		d.Counts[string(f.Kind)]++
		d.Worse = d.Worse || f.Worse
	}
	return d, nil
}

type resultKey struct{ control, cluster, member string }

func diffControls(from, to *results.Report) []ControlChange {
	titles := map[string]string{}
	for _, rep := range []*results.Report{from, to} {
		for _, c := range rep.Controls {
			titles[c.ID] = c.Title
		}
	}
	old := make(map[resultKey]results.Result, len(from.Results))
	for _, r := range from.Results {
		old[resultKey{r.Control, r.Cluster, r.Member}] = r
	}
	seen := make(map[resultKey]bool, len(to.Results))
	out := []ControlChange{}
	for _, r := range to.Results {
		k := resultKey{r.Control, r.Cluster, r.Member}
		seen[k] = true
		prev, had := old[k]
		var fromStatus results.Status
		if had {
			fromStatus = prev.Status
		}
		t := transition(fromStatus, r.Status)
		if t == transitionNil {
			continue
		}
		msgs := r.Messages
		if t == Resolved || t == NewlyWaived {
			msgs = prev.Messages // what was wrong, now gone
		}
		out = append(out, ControlChange{Transition: t, Control: r.Control, Title: titles[r.Control],
			Cluster: r.Cluster, Member: r.Member, From: fromStatus, To: r.Status, Messages: msgs})
	}
	for _, r := range from.Results {
		k := resultKey{r.Control, r.Cluster, r.Member}
		if seen[k] || (r.Status != results.Failed && r.Status != results.Error) {
			continue
		}
		out = append(out, ControlChange{Transition: FailingGone, Control: r.Control, Title: titles[r.Control],
			Cluster: r.Cluster, Member: r.Member, From: r.Status, Messages: r.Messages})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Transition != b.Transition {
			return transitionRank[a.Transition] < transitionRank[b.Transition]
		}
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		return a.Control < b.Control
	})
	return out
}

// transitionRank orders a drift document worst first.
var transitionRank = map[Transition]int{
	NewlyFailing: 0, NewError: 1, StillFailing: 2, StillError: 3, NewlySkipped: 4,
	Resolved: 5, NewlyWaived: 6, FailingGone: 7,
}

// Transitions in report order, worst first.
var Transitions = []Transition{NewlyFailing, NewError, StillFailing, StillError, NewlySkipped, Resolved, NewlyWaived, FailingGone}

func transition(from, to results.Status) Transition {
	bad := func(s results.Status) bool { return s == results.Failed || s == results.Error }
	switch {
	case to == results.Failed && from == results.Failed:
		return StillFailing
	case to == results.Error && from == results.Error:
		return StillError
	case to == results.Failed:
		return NewlyFailing
	case to == results.Error:
		return NewError
	case bad(from) && to == results.Passed:
		return Resolved
	case bad(from) && to == results.Waived:
		return NewlyWaived
	case from == results.Passed && to == results.Skipped:
		return NewlySkipped
	case bad(from) && to == results.Skipped:
		// Not resolved: the control could no longer judge. Shown with
		// the skips so it is not mistaken for a fix.
		return NewlySkipped
	}
	return transitionNil
}

func factsTime(r *results.Report) time.Time {
	for _, t := range []time.Time{r.Facts.FinishedAt, r.FinishedAt, r.Facts.StartedAt, r.StartedAt} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

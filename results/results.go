// Package results is the one model of a judged scan: controls, their
// verdicts per subject, waivers and summaries. Policies produce it, reports,
// history and remediation only read it, so a new output format never needs a
// change here.
package results

import (
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// ReportSchema names the JSON document version of a Report.
const ReportSchema = "etcdaudit.report/v1"

// Status is a control's verdict on one subject.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
	Error   Status = "error"
	Waived  Status = "waived"
)

// Statuses in report order, worst first after the order InSpec users know.
var Statuses = []Status{Failed, Error, Skipped, Waived, Passed}

// Severity orders statuses for "worst status" views (heat maps, rollups).
func (s Status) Severity() int {
	switch s {
	case Failed:
		return 4
	case Error:
		return 3
	case Skipped:
		return 2
	case Waived:
		return 1
	default:
		return 0
	}
}

// Scope is what a control judges.
type Scope string

const (
	ScopeMember  Scope = "member"
	ScopeCluster Scope = "cluster"
	ScopeFleet   Scope = "fleet"
)

// Control is a control's metadata, read from its Rego METADATA annotations.
type Control struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Impact      float64  `json:"impact"`
	Scope       Scope    `json:"scope"`
	Tags        []string `json:"tags,omitempty"`
	Remediation string   `json:"remediation,omitempty"` // action name, empty for none
	Refs        []string `json:"refs,omitempty"`
	Package     string   `json:"package,omitempty"` // Rego package path
	Source      string   `json:"source,omitempty"`  // file:line of the package
}

// Subject names what a result is about. Member is empty for cluster-scoped
// controls and both are empty for fleet-scoped ones.
type Subject struct {
	Cluster string `json:"cluster,omitempty"`
	Member  string `json:"member,omitempty"`
}

// Result is one control's verdict on one subject, with every reason.
type Result struct {
	Control  string   `json:"control"`
	Cluster  string   `json:"cluster,omitempty"`
	Member   string   `json:"member,omitempty"`
	Status   Status   `json:"status"`
	Messages []string `json:"messages,omitempty"`
	Waiver   *Waiver  `json:"waiver,omitempty"`
	// ExpiredWaiver is set when a waiver matched but had expired, so the
	// result says why it no longer applies.
	ExpiredWaiver *Waiver `json:"expired_waiver,omitempty"`
	// NotCollected names the collector whose fact the control needed and the
	// run left out (its profile or --collectors): such a skip goes away with
	// a profile that runs it (collectors.Registry.ProfileFor).
	NotCollected string `json:"not_collected,omitempty"`
}

// Waiver turns a failure into waived until it expires.
type Waiver struct {
	Control       string     `json:"control"`
	Cluster       string     `json:"cluster,omitempty"` // glob
	Member        string     `json:"member,omitempty"`  // glob
	Justification string     `json:"justification"`
	Expires       *time.Time `json:"expires,omitempty"`
	Source        string     `json:"source,omitempty"` // file:line
}

// Counts holds the number of results per status.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Error   int `json:"error"`
	Waived  int `json:"waived"`
	Total   int `json:"total"`
}

// Add counts one result status.
func (c *Counts) Add(s Status) {
	switch s {
	case Passed:
		c.Passed++
	case Failed:
		c.Failed++
	case Skipped:
		c.Skipped++
	case Error:
		c.Error++
	case Waived:
		c.Waived++
	}
	c.Total++
}

// Summary rolls results up overall, per cluster and per control.
type Summary struct {
	Overall    Counts            `json:"overall"`
	PerCluster map[string]Counts `json:"per_cluster"`
	PerControl map[string]Counts `json:"per_control"`
}

// Report is a judged scan: what every renderer, the history store and the
// remediator consume.
type Report struct {
	Schema      string            `json:"schema"`
	ToolVersion string            `json:"tool_version"`
	ScanID      string            `json:"scan_id"`
	Inventory   string            `json:"inventory"`
	StartedAt   time.Time         `json:"started_at"`
	FinishedAt  time.Time         `json:"finished_at"`
	Controls    []Control         `json:"controls"`
	Results     []Result          `json:"results"`
	Summary     Summary           `json:"summary"`
	Facts       *collectors.Facts `json:"facts,omitempty"`
}

// Summarize recomputes the summary from the results.
func Summarize(rs []Result) Summary {
	s := Summary{PerCluster: map[string]Counts{}, PerControl: map[string]Counts{}}
	for _, r := range rs {
		s.Overall.Add(r.Status)
		if r.Cluster != "" {
			c := s.PerCluster[r.Cluster]
			c.Add(r.Status)
			s.PerCluster[r.Cluster] = c
		}
		c := s.PerControl[r.Control]
		c.Add(r.Status)
		s.PerControl[r.Control] = c
	}
	return s
}

// Exit codes, InSpec's: the tool's own failure (1) is never confused with
// failing controls (100).
const (
	ExitPassed  = 0
	ExitTool    = 1
	ExitFailed  = 100
	ExitSkipped = 101
)

// ExitCode maps a summary to the process exit code. Waived counts as
// passed; skips fail the run only when strict.
func ExitCode(c Counts, strict bool) int {
	switch {
	case c.Failed > 0 || c.Error > 0:
		return ExitFailed
	case strict && c.Skipped > 0:
		return ExitSkipped
	default:
		return ExitPassed
	}
}

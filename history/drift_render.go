package history

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// DriftFormats are the formats RenderDrift accepts.
var DriftFormats = []string{"cli", "json", "markdown", "html"}

// RenderDrift writes d as cli, json, markdown or html; an unknown format is an
// error. d is not modified.
func RenderDrift(w io.Writer, format string, d *Drift) error {
	switch format {
	case "cli", "":
		return renderDriftCLI(w, d)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "markdown", "md":
		return renderDriftMarkdown(w, d)
	case "html":
		return renderDriftHTML(w, d)
	default:
		return fmt.Errorf("drift output %q: want one of %s", format, strings.Join(DriftFormats, ", "))
	}
}

var transitionTitle = map[Transition]string{
	NewlyFailing: "Newly failing", NewError: "New errors", StillFailing: "Still failing",
	StillError: "Still erroring", NewlySkipped: "Newly skipped", Resolved: "Resolved",
	NewlyWaived: "Newly waived", FailingGone: "Failing result gone",
}

var transitionMark = map[Transition]string{
	NewlyFailing: "✗", NewError: "!", StillFailing: "✗", StillError: "!", NewlySkipped: "↷",
	Resolved: "✓", NewlyWaived: "≈", FailingGone: "–",
}

func scanLine(r ScanRef) string {
	return fmt.Sprintf("%s (%s)", r.ID, r.StartedAt.UTC().Format(time.DateTime+" UTC"))
}

// Headline is the one-line verdict shown first and used as the service's
// "since last scan" summary.
func (d *Drift) Headline() string {
	worseFacts := 0
	for _, f := range d.Facts {
		if f.Worse {
			worseFacts++
		}
	}
	verdict := "no change for the worse"
	if d.Worse {
		verdict = "WORSE"
	}
	return fmt.Sprintf("%s: %d newly failing, %d new errors, %d fact changes for the worse, %d resolved, %d other fact changes",
		verdict, d.Counts[string(NewlyFailing)], d.Counts[string(NewError)], worseFacts, d.Counts[string(Resolved)], len(d.Facts)-worseFacts)
}

func subject(cluster, member string) string {
	switch {
	case cluster == "" && member == "":
		return "fleet"
	case member == "":
		return cluster
	default:
		return cluster + "/" + member
	}
}

func renderDriftCLI(w io.Writer, d *Drift) error {
	ew := &errWriter{w: w}
	ew.printf("Drift %s → %s\n", scanLine(d.From), scanLine(d.To))
	ew.printf("%s\n", d.Headline())
	for _, n := range d.Notes {
		ew.printf("note: %s\n", n)
	}
	for _, t := range Transitions {
		rows := d.withTransition(t)
		if len(rows) == 0 {
			continue
		}
		ew.printf("\n%s (%d)\n", transitionTitle[t], len(rows))
		for _, g := range sameCause(rows) {
			if len(g) > 2 {
				// One member down turns all its controls to error at once:
				// one line for the member, not one per control.
				c := g[0]
				ew.printf("  %s %-14s %s  [→ %s]\n", transitionMark[t], fmt.Sprintf("%d controls", len(g)),
					subject(c.Cluster, c.Member), orDash(string(c.To)))
				for _, m := range c.Messages {
					ew.printf("      %s\n", oneLine(m))
				}
				ids := make([]string, len(g))
				for i, x := range g {
					ids[i] = x.Control
				}
				ew.printf("      %s\n", oneLine(strings.Join(ids, ", ")))
				var refs []RemediationRef
				for _, x := range g {
					refs = appendRefs(refs, x.Remediation)
				}
				renderRefsCLI(ew, refs)
				continue
			}
			for _, c := range g {
				renderChangeCLI(ew, t, c)
			}
		}
	}
	if len(d.Facts) > 0 {
		ew.printf("\nFact changes (%d)\n", len(d.Facts))
		for _, f := range d.Facts {
			mark := "~"
			if f.Worse {
				mark = "!"
			}
			ew.printf("  %s %-24s %-28s %s\n", mark, f.Kind, subject(f.Cluster, f.Member), oneLine(f.Message))
			renderRefsCLI(ew, f.Remediation)
		}
	}
	renderRunsCLI(ew, d.Remediation)
	return ew.err
}

func renderChangeCLI(ew *errWriter, t Transition, c ControlChange) {
	ew.printf("  %s %-14s %s", transitionMark[t], c.Control, subject(c.Cluster, c.Member))
	if c.From != "" || c.To != "" {
		ew.printf("  [%s → %s]", orDash(string(c.From)), orDash(string(c.To)))
	}
	if c.Title != "" {
		ew.printf("  %s", c.Title)
	}
	ew.printf("\n")
	for _, m := range c.Messages {
		ew.printf("      %s\n", oneLine(m))
	}
	renderRefsCLI(ew, c.Remediation)
}

// sameCause groups consecutive-or-not changes of one subject that went to
// the same status for the same reason, keeping first-seen order.
func sameCause(rows []ControlChange) [][]ControlChange {
	var out [][]ControlChange
	idx := map[string]int{}
	for _, c := range rows {
		k := c.Cluster + "\x00" + c.Member + "\x00" + string(c.To) + "\x00" + strings.Join(c.Messages, "\x00")
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], c)
	}
	return out
}

func renderDriftMarkdown(w io.Writer, d *Drift) error {
	ew := &errWriter{w: w}
	ew.printf("# Drift %s → %s\n\n", mdEscape(scanLine(d.From)), mdEscape(scanLine(d.To)))
	ew.printf("**%s**\n\n", mdEscape(d.Headline()))
	for _, n := range d.Notes {
		ew.printf("> %s\n\n", mdEscape(n))
	}
	// The remediation column appears only when runs ended between the scans.
	refHead, refRule := "", ""
	refCell := func([]RemediationRef) string { return "" }
	if len(d.Remediation) > 0 {
		refHead, refRule = " remediation |", "---|"
		refCell = func(r []RemediationRef) string { return " " + mdRefs(r) + " |" }
	}
	for _, t := range Transitions {
		rows := d.withTransition(t)
		if len(rows) == 0 {
			continue
		}
		ew.printf("## %s (%d)\n\n| control | subject | from → to | title | messages |%s\n|---|---|---|---|---|%s\n", transitionTitle[t], len(rows), refHead, refRule)
		for _, c := range rows {
			ew.printf("| %s | %s | %s → %s | %s | %s |%s\n", mdEscape(c.Control), mdEscape(subject(c.Cluster, c.Member)),
				orDash(string(c.From)), orDash(string(c.To)), mdEscape(c.Title), mdEscape(strings.Join(c.Messages, "; ")), refCell(c.Remediation))
		}
		ew.printf("\n")
	}
	if len(d.Facts) > 0 {
		ew.printf("## Fact changes (%d)\n\n| | kind | subject | change |%s\n|---|---|---|---|%s\n", len(d.Facts), refHead, refRule)
		for _, f := range d.Facts {
			mark := ""
			if f.Worse {
				mark = "⚠"
			}
			ew.printf("| %s | %s | %s | %s |%s\n", mark, f.Kind, mdEscape(subject(f.Cluster, f.Member)), mdEscape(f.Message), refCell(f.Remediation))
		}
		ew.printf("\n")
	}
	renderRunsMarkdown(ew, d.Remediation)
	return ew.err
}

// mdEscape keeps fleet-controlled text (key names, member names) from
// breaking a table or injecting markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// oneLine keeps a hostile message from forging extra report lines or
// terminal escapes.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return '�'
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

// withTransition lists the control changes of one transition, in order.
func (d *Drift) withTransition(t Transition) []ControlChange {
	var rows []ControlChange
	for _, c := range d.Controls {
		if c.Transition == t {
			rows = append(rows, c)
		}
	}
	return rows
}

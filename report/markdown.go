package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// markdownReporter writes what goes into a ticket or a pull request: the
// summary per cluster, then each failing or erroring control with the
// subjects and reasons, then waivers. Passing detail is left out on purpose.
type markdownReporter struct{ opts Options }

func (m *markdownReporter) Render(w io.Writer, r *results.Report) error {
	v := newView(r)
	b := bufio.NewWriter(w)
	title := "etcdaudit report"
	if r.Inventory != "" {
		title += ": " + mdText(r.Inventory)
	}
	fmt.Fprintf(b, "# %s\n\n", title)
	var meta []string
	if r.ScanID != "" {
		meta = append(meta, "scan "+mdCode(r.ScanID))
	}
	if !r.StartedAt.IsZero() {
		meta = append(meta, "started "+r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if d := duration(r); d > 0 {
		meta = append(meta, "took "+d.Round(10*time.Millisecond).String())
	}
	if r.ToolVersion != "" {
		meta = append(meta, "etcdaudit "+mdText(r.ToolVersion))
	}
	if len(meta) > 0 {
		fmt.Fprintf(b, "%s\n\n", strings.Join(meta, " · "))
	}
	o := v.summary.Overall
	fmt.Fprintf(b, "**%d failed, %d error, %d skipped, %d waived, %d passed** (%d results)\n\n",
		o.Failed, o.Error, o.Skipped, o.Waived, o.Passed, o.Total)
	if line := profileSkips(r); line != "" {
		fmt.Fprintf(b, "%s\n\n", mdText(line))
	}

	b.WriteString("## Summary\n\n| Cluster | Failed | Error | Skipped | Waived | Passed |\n|---|---:|---:|---:|---:|---:|\n")
	if len(v.fleet) > 0 {
		var c results.Counts
		for _, res := range v.fleet {
			c.Add(res.Status)
		}
		mdCounts(b, "*(fleet)*", c)
	}
	// A big fleet lists its worst clusters and folds the rest into one row.
	clusters := slices.Clone(v.clusters)
	var rest results.Counts
	restN := 0
	if len(clusters) > 2*maxMarkdownRows && !m.opts.Verbose {
		slices.SortStableFunc(clusters, func(a, b clusterView) int {
			return (b.Counts.Failed + b.Counts.Error) - (a.Counts.Failed + a.Counts.Error)
		})
		for _, c := range clusters[2*maxMarkdownRows:] {
			restN++
			rest.Passed += c.Counts.Passed
			rest.Failed += c.Counts.Failed
			rest.Error += c.Counts.Error
			rest.Skipped += c.Counts.Skipped
			rest.Waived += c.Counts.Waived
			rest.Total += c.Counts.Total
		}
		clusters = clusters[:2*maxMarkdownRows]
	}
	for _, c := range clusters {
		mdCounts(b, mdCell(c.Name), c.Counts)
	}
	if restN > 0 {
		mdCounts(b, fmt.Sprintf("*(%d more clusters)*", restN), rest)
	}
	b.WriteString("\n")

	// Failing controls, in the report's control order.
	bad := map[string][]results.Result{}
	var waived []results.Result
	for _, res := range r.Results {
		switch res.Status {
		case results.Failed, results.Error:
			bad[res.Control] = append(bad[res.Control], res)
		case results.Waived:
			waived = append(waived, res)
		}
		if res.Status == results.Failed && res.ExpiredWaiver != nil {
			waived = append(waived, res)
		}
	}
	b.WriteString("## Failing controls\n\n")
	if len(bad) == 0 {
		b.WriteString("None.\n\n")
	}
	for _, c := range v.order {
		rs := bad[c.ID]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(b, "### %s %s\n\n", mdCode(c.ID), mdText(c.Title))
		var meta []string
		if c.Impact > 0 {
			meta = append(meta, fmt.Sprintf("impact %.1f", c.Impact))
		}
		if c.Remediation != "" {
			meta = append(meta, "remediation "+mdCode(c.Remediation))
		}
		for _, ref := range c.Refs {
			meta = append(meta, mdText(ref))
		}
		if len(meta) > 0 {
			fmt.Fprintf(b, "%s\n\n", strings.Join(meta, " · "))
		}
		b.WriteString("| Status | Cluster | Member | Messages |\n|---|---|---|---|\n")
		shown := rs
		if len(rs) > maxMarkdownRows && !m.opts.Verbose {
			shown = rs[:maxMarkdownRows]
		}
		for _, res := range shown {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell(string(res.Status)), mdCell(res.Cluster), mdCell(res.Member), mdMessages(res.Messages))
		}
		if len(shown) < len(rs) {
			fmt.Fprintf(b, "\n…and %d more subjects (all of them in the JSON or HTML report, or render with --verbose).\n", len(rs)-len(shown))
		}
		b.WriteString("\n")
	}
	if len(waived) > 0 {
		b.WriteString("## Waivers\n\n| Control | Cluster | Member | State | Expires | Justification |\n|---|---|---|---|---|---|\n")
		shown := waived
		if len(waived) > maxMarkdownRows && !m.opts.Verbose {
			shown = waived[:maxMarkdownRows]
		}
		for _, res := range shown {
			wv, state := res.Waiver, "active"
			if res.Status == results.Failed {
				wv, state = res.ExpiredWaiver, "**expired**"
			}
			if wv == nil {
				wv = &results.Waiver{}
			}
			exp := "never"
			if wv.Expires != nil {
				exp = wv.Expires.UTC().Format("2006-01-02")
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdCode(res.Control), mdCell(res.Cluster),
				mdCell(res.Member), state, exp, mdCell(wv.Justification))
		}
		if len(shown) < len(waived) {
			fmt.Fprintf(b, "\n…and %d more waivers.\n", len(waived)-len(shown))
		}
		b.WriteString("\n")
	}
	return b.Flush()
}

// maxMarkdownRows keeps a comment or ticket readable (and under GitHub's
// 65,536-character comment limit) when one control fails across a big fleet.
const maxMarkdownRows = 20

func mdCounts(b *bufio.Writer, name string, c results.Counts) {
	fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d |\n", name, c.Failed, c.Error, c.Skipped, c.Waived, c.Passed)
}

// mdText escapes a fleet value for Markdown prose: markup characters get a
// backslash and HTML-significant ones become entities, so a key named
// `<script>` or `**x**` renders as written and cannot inject markup.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range termSafe(s) {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '#', '|', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCell is mdText for a table cell; termSafe already turned newlines into
// visible \n, so a value cannot end the row.
func mdCell(s string) string {
	if s == "" {
		return ""
	}
	return mdText(s)
}

func mdMessages(ms []string) string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, mdText(m))
	}
	return strings.Join(out, "<br>")
}

// mdCode renders an identifier as inline code when it can, and as escaped
// text when it holds a backtick or markup that code spans cannot carry.
func mdCode(s string) string {
	if s == "" || strings.ContainsAny(s, "`<>&|\\") || s != termSafe(s) {
		return mdText(s)
	}
	return "`" + s + "`"
}

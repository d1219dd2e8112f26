// Package report renders a judged scan (results.Report) for people and
// machines: a terminal summary, JSON, JUnit XML, one self-contained HTML page,
// Markdown and Prometheus exposition text.
//
// Every reporter reads the report and never changes it, so several formats
// can be written from one scan (InSpec's `--report cli --report json:out.json`)
// without one renderer's choices leaking into another's output.
package report

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// Reporter renders one report in one format.
type Reporter interface {
	Render(w io.Writer, r *results.Report) error
}

// ColorMode says whether the cli reporter may use ANSI colours.
type ColorMode int

const (
	// ColorAuto colours only a terminal, and never when NO_COLOR is set.
	ColorAuto ColorMode = iota
	ColorAlways
	ColorNever
)

// Options tune the reporters. The zero value is usable.
type Options struct {
	// Verbose lists passed results instead of folding them into a count.
	Verbose bool
	Color   ColorMode
	// IncludeFacts embeds the collected facts in the JSON report, so it can be
	// re-rendered later (`etcdaudit report --from`) with the member drill-down.
	IncludeFacts bool
	// Now is the clock for "generated at" stamps and waiver expiry warnings;
	// golden tests inject a fixed one. Nil means time.Now.
	Now func() time.Time
	// Width wraps the cli output; 0 means 80 columns.
	Width int
	// Stdout receives the spec that names no file; nil means os.Stdout.
	Stdout io.Writer
	// Pushgateway, when set, makes WriteAll push the Prometheus gauges there
	// under PushJob (default "etcdaudit"), with no instance label.
	Pushgateway string
	PushJob     string
	// PushTimeout bounds the whole push; 0 means 10 s.
	PushTimeout time.Duration
	Logger      *slog.Logger
	// Remediation are the remediation runs on the scanned clusters since
	// RemediationSince (the previous scan; zero: none recorded before), as
	// the caller read them from the journal; the HTML report lists them.
	Remediation      []results.RemediationRun
	RemediationSince time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// format is one registry entry; the registry is a fixed value, never mutated,
// so there is no init-order or concurrency question about it.
type format struct {
	name    string
	aliases []string
	help    string
	new     func(Options) Reporter
}

var registry = []format{
	{"cli", []string{"text"}, "grouped terminal output (default)", func(o Options) Reporter { return &cliReporter{opts: o} }},
	{"json", nil, "etcdaudit.report/v1 JSON document", func(o Options) Reporter { return &jsonReporter{opts: o} }},
	{"junit", []string{"xml"}, "JUnit XML, one testsuite per cluster", func(o Options) Reporter { return &junitReporter{opts: o} }},
	{"html", nil, "one self-contained HTML page", func(o Options) Reporter { return &htmlReporter{opts: o} }},
	{"markdown", []string{"md"}, "summary table and failing controls", func(o Options) Reporter { return &markdownReporter{opts: o} }},
	{"prometheus", []string{"prom"}, "Prometheus text exposition format", func(o Options) Reporter { return &promReporter{opts: o} }},
}

// Formats lists the format names a --report flag accepts, with a line of
// help each, in registry order.
func Formats() [][2]string {
	out := make([][2]string, 0, len(registry))
	for _, f := range registry {
		out = append(out, [2]string{f.name, f.help})
	}
	return out
}

func lookup(name string) (format, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, f := range registry {
		if f.name == n || slices.Contains(f.aliases, n) {
			return f, true
		}
	}
	return format{}, false
}

// New returns the reporter for a format name (or alias).
func New(name string, opts Options) (Reporter, error) {
	f, ok := lookup(name)
	if !ok {
		names := make([]string, 0, len(registry))
		for _, f := range registry {
			names = append(names, f.name)
		}
		return nil, fmt.Errorf("unknown report format %q (known: %s)", name, strings.Join(names, ", "))
	}
	return f.new(opts), nil
}

// Render writes r to w in the named format.
func Render(w io.Writer, name string, r *results.Report, opts Options) error {
	if r == nil {
		return fmt.Errorf("render %s: no report", name)
	}
	rep, err := New(name, opts)
	if err != nil {
		return err
	}
	return rep.Render(w, r)
}

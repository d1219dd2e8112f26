package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/report"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// reportOutputFlags are the report options beyond --report and --verbose:
// colour, facts in the JSON, and the Pushgateway. scan, eval and serve can
// register them with addReportOutputFlags and call apply.
type reportOutputFlags struct {
	color        string
	includeFacts bool
	pushgateway  string
	pushJob      string
	pushTimeout  time.Duration
}

func addReportOutputFlags(fs *pflag.FlagSet, includeFactsDefault bool) *reportOutputFlags {
	f := &reportOutputFlags{}
	fs.StringVar(&f.color, "color", "auto", "colour the cli report: auto (terminal and no NO_COLOR), always, never")
	fs.BoolVar(&f.includeFacts, "include-facts", includeFactsDefault, "embed the collected facts in the JSON report (needed to re-render the member drill-down later)")
	fs.StringVar(&f.pushgateway, "pushgateway", "", "also push the Prometheus gauges to this Pushgateway URL (http[s]://host:port)")
	fs.StringVar(&f.pushJob, "push-job", report.DefaultPushJob, "job label for --pushgateway (no instance label is set)")
	fs.DurationVar(&f.pushTimeout, "push-timeout", 10*time.Second, "deadline for the Pushgateway push")
	return f
}

// apply checks the flags and fills opts; errors name the flag.
func (f *reportOutputFlags) apply(opts *report.Options) error {
	switch strings.ToLower(f.color) {
	case "auto", "":
		opts.Color = report.ColorAuto
	case "always", "yes", "true":
		opts.Color = report.ColorAlways
	case "never", "no", "false":
		opts.Color = report.ColorNever
	default:
		return fmt.Errorf("--color %q: want auto, always or never", f.color)
	}
	if f.pushTimeout <= 0 {
		return fmt.Errorf("--push-timeout %s: must be positive", f.pushTimeout)
	}
	if f.pushJob == "" {
		return errors.New("--push-job: must not be empty")
	}
	opts.IncludeFacts = f.includeFacts
	opts.Pushgateway, opts.PushJob, opts.PushTimeout = f.pushgateway, f.pushJob, f.pushTimeout
	return nil
}

// reportArgs is the `report` command's parsed flags, kept apart from cobra
// so parsing is unit-tested without running anything.
type reportArgs struct {
	from     string
	reports  []string
	verbose  bool
	exitCode bool
	strict   bool
	out      *reportOutputFlags
}

func (ra *reportArgs) parse(stdout io.Writer) ([]report.Spec, report.Options, error) {
	opts := report.Options{Verbose: ra.verbose, Stdout: stdout}
	if ra.from == "" {
		return nil, opts, errors.New("--from is required: the JSON report to re-render (written by scan --report json:PATH)")
	}
	specs, err := report.ParseSpecs(ra.reports)
	if err != nil {
		return nil, opts, err
	}
	if len(specs) == 0 {
		specs = []report.Spec{{Format: "cli"}}
	}
	if err := ra.out.apply(&opts); err != nil {
		return nil, opts, err
	}
	return specs, opts, nil
}

func newReportCmd(a *app) *cobra.Command {
	ra := &reportArgs{}
	var formats []string
	for _, f := range report.Formats() {
		formats = append(formats, fmt.Sprintf("  %-11s %s", f[0], f[1]))
	}
	cmd := &cobra.Command{
		Use:   "report --from scan.json [--report FORMAT[:PATH]]...",
		Short: "Re-render a saved JSON report in other formats, without touching the fleet",
		Long: `report reads a report written by "scan --report json:PATH" (schema etcdaudit.report/v1)
and renders it again: another format, a fresh HTML page, a Pushgateway push. Nothing
is collected and no policy runs, so the verdicts are exactly the saved ones.

Formats (--report FORMAT writes to stdout, FORMAT:PATH to a file, atomically):
` + strings.Join(formats, "\n") + `

The member drill-down of the HTML page and the member gauges of the prometheus
format need the facts: write the JSON with --include-facts (scan does by default).

Exit codes: 0 rendered (whatever the results, unless --exit-code), 1 the report
could not be read or a format could not be written. With --exit-code: 100 when a
result failed or errored, 101 with --strict when one was skipped, as scan would.`,
		Example: `  etcdaudit report --from scan.json
  etcdaudit report --from scan.json --report html:report.html --report junit:junit.xml
  etcdaudit report --from scan.json --report prometheus:/var/lib/node_exporter/etcdaudit.prom
  etcdaudit report --from scan.json --report markdown > ticket.md
  etcdaudit report --from - --pushgateway http://pushgateway:9091 < scan.json`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&ra.from, "from", "", `saved JSON report ("-" for stdin)`)
	fs.StringArrayVar(&ra.reports, "report", nil, "FORMAT[:PATH]; repeatable; default cli on stdout")
	fs.BoolVarP(&ra.verbose, "verbose", "v", false, "list passed results too (cli, html)")
	fs.BoolVar(&ra.exitCode, "exit-code", false, "exit 100 when the saved results hold a failure or error, like scan")
	fs.BoolVar(&ra.strict, "strict", false, "with --exit-code: exit 101 when something was skipped")
	ra.out = addReportOutputFlags(fs, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		specs, opts, err := ra.parse(a.stdout)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		opts.Logger = a.log
		r, err := readReport(cmd.Context(), ra.from, cmd.InOrStdin())
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		if err := report.WriteAll(cmd.Context(), specs, r, opts); err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		for _, s := range specs {
			if s.Path != "" {
				fmt.Fprintf(a.stderr, "wrote %s report to %s\n", s.Format, s.Path)
			}
		}
		if ra.exitCode {
			if code := results.ExitCode(r.Summary.Overall, ra.strict); code != results.ExitPassed {
				return &exitError{code: code}
			}
		}
		return nil
	}
	return cmd
}

// readReport reads a JSON report from a regular file or stdin ("-"), of at
// most inputfile.Document bytes.
func readReport(ctx context.Context, path string, stdin io.Reader) (*results.Report, error) {
	if path == "-" {
		r, err := report.ReadJSON(inputfile.Limit(ctx, stdin, "stdin", inputfile.Document))
		if err != nil {
			return nil, fmt.Errorf("read report from stdin: %w", err)
		}
		return r, nil
	}
	f, err := inputfile.Open(ctx, path, inputfile.Document)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}

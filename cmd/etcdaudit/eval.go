package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/report"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

// judgeFlags are the policy, waiver and report flags scan and eval share.
type judgeFlags struct {
	policyDirs []string
	dataFiles  []string
	noBuiltin  bool
	controls   []string
	tags       []string
	allowNet   bool
	evalTime   time.Duration
	noOptimize bool
	waivers    string
	strict     bool
	reports    []string
	verbose    bool
	out        *reportOutputFlags
	// stateDir, when set (scan only), records the judged scan in the history.
	stateDir string
}

func addJudgeFlags(cmd *cobra.Command) *judgeFlags {
	j := &judgeFlags{}
	fs := cmd.Flags()
	fs.StringArrayVar(&j.policyDirs, "policy", nil, "folder (or .rego file) of extra controls; repeatable")
	fs.StringArrayVar(&j.dataFiles, "data", nil, "YAML/JSON file deep-merged over the bundled data (baseline, known_issues, upgrade); repeatable")
	fs.BoolVar(&j.noBuiltin, "no-builtin", false, "run only the controls from --policy (bundled helper libraries and data stay)")
	fs.StringSliceVar(&j.controls, "controls", nil, "run only these control ids or globs (ETCD-V2-*), comma-separated")
	fs.StringSliceVar(&j.tags, "tags", nil, "run only controls with one of these tags, comma-separated")
	addAllowNetFlag(fs, &j.allowNet)
	fs.DurationVar(&j.evalTime, "eval-timeout", policies.DefaultEvalTimeout, "deadline of each evaluation (one subject's controls): a control still running then is an error result, and the scan goes on")
	// Benchmarks and bug reports: judge without the engine's optimisations.
	fs.BoolVar(&j.noOptimize, "no-optimize", false, "evaluate every control per subject, without reusing verdicts")
	_ = fs.MarkHidden("no-optimize")
	fs.StringVar(&j.waivers, "waivers", "", "waivers file (YAML)")
	fs.BoolVar(&j.strict, "strict", false, "exit 101 when a control was skipped (and nothing failed)")
	fs.StringArrayVar(&j.reports, "report", nil, "FORMAT[:PATH] (cli, json, junit, html, markdown, prometheus); repeatable; default cli on stdout")
	fs.BoolVarP(&j.verbose, "verbose", "v", false, "list passed results too in the cli report")
	j.out = addReportOutputFlags(fs, true)
	return j
}

// judgeSetup is what the judge flags resolve to before any fact is read:
// every problem with policies, data, waivers or report specs is found here,
// so a bad flag never costs a fleet scan.
type judgeSetup struct {
	engine  *policies.Engine
	waivers *policies.Waivers
	specs   []report.Spec
	opts    report.Options
}

func (j *judgeFlags) setup(ctx context.Context) (*judgeSetup, error) {
	specs, err := report.ParseSpecs(j.reports)
	if err != nil {
		return nil, err
	}
	opts := report.Options{Verbose: j.verbose}
	if err := j.out.apply(&opts); err != nil {
		return nil, err
	}
	toStdout := false
	for _, s := range specs {
		toStdout = toStdout || s.Path == ""
	}
	if !toStdout {
		specs = append([]report.Spec{{Format: "cli"}}, specs...)
	}
	eng, err := policies.New(ctx, policies.Config{
		PolicyDirs: j.policyDirs, DataFiles: j.dataFiles, NoBuiltin: j.noBuiltin,
		Controls: j.controls, Tags: j.tags,
		AllowNetBuiltins: j.allowNet, EvalTimeout: j.evalTime, NoOptimize: j.noOptimize,
	})
	if err != nil {
		return nil, err
	}
	var w *policies.Waivers
	if j.waivers != "" {
		if w, err = policies.LoadWaiversContext(ctx, j.waivers); err != nil {
			return nil, err
		}
		if err := w.Check(eng.AllControls()); err != nil {
			return nil, err
		}
	}
	return &judgeSetup{engine: eng, waivers: w, specs: specs, opts: opts}, nil
}

// judgeAndReport judges facts, writes every report and returns the exit
// error (nil for 0). A report that cannot be written is the tool's failure
// (exit 1), never hidden behind the controls' exit code.
func (a *app) judgeAndReport(ctx context.Context, j *judgeFlags, s *judgeSetup, facts *collectors.Facts) error {
	rep, err := policies.Judge(ctx, s.engine, facts, s.waivers, time.Now().UTC())
	if err != nil {
		return &exitError{code: results.ExitTool, err: err}
	}
	opts := s.opts
	opts.Stdout, opts.Logger = a.stdout, a.log
	opts.Remediation, opts.RemediationSince = scanRemediation(ctx, a, j.stateDir, rep)
	if err := report.WriteAll(ctx, s.specs, rep, opts); err != nil {
		return &exitError{code: results.ExitTool, err: err}
	}
	// The history keeps the facts whatever --include-facts says: drift needs them.
	if err := recordScan(ctx, a, j.stateDir, rep); err != nil {
		return &exitError{code: results.ExitTool, err: fmt.Errorf("record scan in %s: %w", j.stateDir, err)}
	}
	if code := results.ExitCode(rep.Summary.Overall, j.strict); code != results.ExitPassed {
		return &exitError{code: code}
	}
	return nil
}

func newEvalCmd(a *app) *cobra.Command {
	var factsPath string
	cmd := &cobra.Command{
		Use:   "eval --facts facts.json",
		Short: "Judge saved facts offline with the controls (same results as the scan that saved them)",
		Long: `eval judges a facts document written by "etcdaudit facts" (or saved by a scan)
without touching any cluster: the same engine, controls, data and waivers as scan.

Exit codes: 0 nothing failed or errored (waived counts as passed, skips allowed),
100 a control failed or errored, 101 only with --strict when something was skipped,
1 etcdaudit itself could not run (bad flags, unreadable facts, policy errors).`,
		Example: `  etcdaudit eval --facts facts.json
  etcdaudit eval --facts facts.json --waivers waivers.yaml --report json:report.json
  etcdaudit eval --facts - --controls 'ETCD-V2-*' --strict < facts.json`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&factsPath, "facts", "", `facts JSON file ("-" for stdin)`)
	j := addJudgeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if factsPath == "" {
			return &exitError{code: results.ExitTool, err: errors.New("--facts is required")}
		}
		s, err := j.setup(cmd.Context())
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		facts, err := readFactsFile(cmd.Context(), factsPath, cmd.InOrStdin())
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		if facts.Interrupted != "" {
			// Judged anyway: what was not collected shows as error results.
			fmt.Fprintf(a.stderr, "etcdaudit: warning: these facts were cut short (%s); missing facts are judged as errors\n", facts.Interrupted)
		}
		return a.judgeAndReport(cmd.Context(), j, s, facts)
	}
	return cmd
}

// addAllowNetFlag adds --allow-net-builtins, shared by scan, eval and policy.
func addAllowNetFlag(fs *pflag.FlagSet, allow *bool) {
	fs.BoolVar(allow, strings.TrimPrefix(policies.AllowNetFlag, "--"), false,
		"let policies call "+strings.Join(policies.NetBuiltins, ", ")+" (left out by default: a policy must not reach the network)")
}

// readFactsFile reads and checks a facts document: JSON of the known
// schema, from a regular file or stdin of at most inputfile.Document bytes.
func readFactsFile(ctx context.Context, path string, stdin io.Reader) (*collectors.Facts, error) {
	r := inputfile.Limit(ctx, stdin, "stdin", inputfile.Document)
	name := "stdin"
	if path != "-" {
		f, err := inputfile.Open(ctx, path, inputfile.Document)
		if err != nil {
			return nil, fmt.Errorf("facts: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	return decodeFacts(name, r)
}

func decodeFacts(name string, r io.Reader) (*collectors.Facts, error) {
	var f collectors.Facts
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("facts %s: invalid JSON at byte %d: %w", name, se.Offset, err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("facts %s: field %s: got JSON %s, want %s (byte %d)", name, te.Field, te.Value, te.Type, te.Offset)
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("facts %s: empty document", name)
		}
		return nil, fmt.Errorf("facts %s: %w", name, err)
	}
	if f.Schema != collectors.FactsSchema {
		return nil, fmt.Errorf("facts %s: schema %q, want %q (written by another etcdaudit version, or not a facts file)", name, f.Schema, collectors.FactsSchema)
	}
	return &f, nil
}

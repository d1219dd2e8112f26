package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newPolicyCmd) }

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "List, test and check controls (bundled and your own)",
		Long: `Controls are Rego packages under etcdaudit.controls with METADATA annotations
(title, description, custom.id, custom.impact 0..1, custom.scope member|cluster|fleet,
custom.tags, custom.remediation, custom.refs, custom.needs). See docs/controls.md.`,
		Example: `  etcdaudit policy list --tags v2
  etcdaudit policy test ./our-controls
  etcdaudit policy check ./our-controls --data baseline-override.yaml`,
	}
	cmd.AddCommand(newPolicyListCmd(a), newPolicyTestCmd(a), newPolicyCheckCmd(a))
	return cmd
}

func newPolicyListCmd(a *app) *cobra.Command {
	var (
		dirs      []string
		noBuiltin bool
		ctrls     []string
		tags      []string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the controls: id, scope, impact, tags, title",
		Example: `  etcdaudit policy list
  etcdaudit policy list --controls 'ETCD-VER-*' -o json
  etcdaudit policy list --policy ./our-controls --no-builtin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("-o %q: want table or json", output)}
			}
			e, err := policies.New(cmd.Context(), policies.Config{PolicyDirs: dirs, NoBuiltin: noBuiltin, Controls: ctrls, Tags: tags})
			if err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
			cs := e.Controls()
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(cs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tIMPACT\tREMEDIATION\tTAGS\tTITLE")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%s\n", c.ID, c.Scope, c.Impact, orDash(c.Remediation), strings.Join(c.Tags, ","), c.Title)
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&dirs, "policy", nil, "folder (or .rego file) of extra controls; repeatable")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "list only the controls from --policy")
	fs.StringSliceVar(&ctrls, "controls", nil, "only these control ids or globs")
	fs.StringSliceVar(&tags, "tags", nil, "only controls with one of these tags")
	fs.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newPolicyTestCmd(a *app) *cobra.Command {
	var (
		noBuiltin bool
		allowNet  bool
		dataFiles []string
		run       string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Run the *_test.rego tests (like opa test) of the bundled pack and of DIRs",
		Long: `test runs every test_* rule of the *_test.rego files, bundled and under each DIR, with
the same data the engine uses (--data files merged over the bundled data). It exits 1
when a test fails or errors.`,
		Example: `  etcdaudit policy test
  etcdaudit policy test ./our-controls --run 'v2'
  etcdaudit policy test ./our-controls --no-builtin -v`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			rs, err := policies.RunTests(cmd.Context(), policies.Config{PolicyDirs: dirs, NoBuiltin: noBuiltin, DataFiles: dataFiles, AllowNetBuiltins: allowNet}, run)
			if err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
			var pass, fail, skip int
			for _, r := range rs {
				switch {
				case r.Skipped:
					skip++
				case r.Passed:
					pass++
				default:
					fail++
				}
				if verbose || (!r.Passed && !r.Skipped) {
					status := "PASS"
					switch {
					case r.Skipped:
						status = "SKIP"
					case r.Error != "":
						status = "ERROR"
					case !r.Passed:
						status = "FAIL"
					}
					fmt.Fprintf(a.stdout, "%s: %s (%s)", status, r.Name, r.Location)
					if r.Error != "" {
						fmt.Fprintf(a.stdout, ": %s", r.Error)
					}
					fmt.Fprintln(a.stdout)
				}
			}
			fmt.Fprintf(a.stdout, "PASS: %d/%d", pass, len(rs))
			if skip > 0 {
				fmt.Fprintf(a.stdout, ", SKIPPED: %d", skip)
			}
			fmt.Fprintln(a.stdout)
			if len(rs) == 0 {
				return &exitError{code: results.ExitTool, err: errors.New("no tests found")}
			}
			if fail > 0 {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("%d of %d tests failed", fail, len(rs))}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&noBuiltin, "no-builtin", false, "test only DIRs (bundled helper libraries and data stay)")
	fs.StringArrayVar(&dataFiles, "data", nil, "data file merged over the bundled data; repeatable")
	fs.StringVar(&run, "run", "", "run only tests whose name matches this regular expression")
	addAllowNetFlag(fs, &allowNet)
	fs.BoolVarP(&verbose, "verbose", "v", false, "list every test, not just failures")
	return cmd
}

func newPolicyCheckCmd(a *app) *cobra.Command {
	var (
		noBuiltin bool
		allowNet  bool
		dataFiles []string
	)
	cmd := &cobra.Command{
		Use:   "check [DIR...]",
		Short: "Compile the policies and check every control's metadata (file:line for each problem)",
		Long: `check compiles the bundled pack and DIRs and reports, with file:line, every compile error,
a control package without METADATA or custom.id, duplicate ids, an impact outside 0..1,
an unknown scope or needed fact; and every --data file's type errors. Exit 1 on any problem.`,
		Example: `  etcdaudit policy check
  etcdaudit policy check ./our-controls --data baseline-override.yaml`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			e, err := policies.New(cmd.Context(), policies.Config{PolicyDirs: dirs, NoBuiltin: noBuiltin, DataFiles: dataFiles, AllowNetBuiltins: allowNet})
			if err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
			by := map[results.Scope]int{}
			for _, c := range e.Controls() {
				by[c.Scope]++
			}
			fmt.Fprintf(a.stdout, "ok: %d controls (%d member, %d cluster, %d fleet)\n", len(e.Controls()),
				by[results.ScopeMember], by[results.ScopeCluster], by[results.ScopeFleet])
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&noBuiltin, "no-builtin", false, "check only DIRs")
	fs.StringArrayVar(&dataFiles, "data", nil, "data file to check (merged over the bundled data); repeatable")
	addAllowNetFlag(fs, &allowNet)
	return cmd
}

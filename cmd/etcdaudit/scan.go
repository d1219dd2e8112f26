package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newScanCmd) }

func newScanCmd(a *app) *cobra.Command {
	var (
		profile     string
		include     []string
		exclude     []string
		concurrency int
		timeout     time.Duration
		saveFacts   string
	)
	cmd := &cobra.Command{
		Use:   "scan (-f fleet.yaml | --endpoints URL,...)",
		Short: "Collect facts from the fleet and judge them with the controls",
		Long: `scan = facts + eval: it collects facts from every member of every cluster (read-only,
nothing is written to the fleet), judges them with the bundled controls plus any
--policy folders, applies waivers, and writes reports (a cli summary on stdout unless
a --report goes there).

The standard profile (default) collects every fact the bundled controls judge except
HashKV, which --profile full adds (every member then reads its whole keyspace);
--profile quick leaves out the v2 count and events lease walks, so the controls
judging them are skipped and the summary says which.

Policies, data, waivers and report specs are all checked before the first network call.

Exit codes: 0 nothing failed or errored (waived counts as passed, skips allowed),
100 a control failed or errored, 101 only with --strict when something was skipped,
1 etcdaudit itself could not run (bad flags, bad inventory, policy errors, interrupted).`,
		Example: `  etcdaudit scan -f fleet.yaml
  etcdaudit scan -f fleet.yaml --profile full --report json:scan.json --report html:scan.html
  etcdaudit scan -f fleet.yaml --waivers waivers.yaml --strict
  etcdaudit scan -f fleet.yaml --policy ./our-controls --data baseline-override.yaml
  etcdaudit scan --endpoints https://10.0.0.1:2379 --cacert ca.pem --controls 'ETCD-V2-*,ETCD-K8S-*'`,
		Args: cobra.NoArgs,
	}
	fleetFlags := addFleetFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&profile, "profile", collectors.ProfileDefault, profileHelp)
	fs.StringSliceVar(&include, "collectors", nil, `run only these collectors (comma-separated); "!name" excludes one`)
	fs.StringSliceVarP(&exclude, "exclude", "x", nil, "leave these collectors out (comma-separated)")
	fs.IntVar(&concurrency, "concurrency", collectors.DefaultConcurrency, "members collected at once across the fleet")
	fs.DurationVar(&timeout, "timeout", 0, "deadline for the whole collection (0: none; each call still has the cluster's command timeout)")
	fs.StringVar(&saveFacts, "save-facts", "", "also write the collected facts JSON here (for a later eval)")
	j := addJudgeFlags(cmd)
	addStateDirFlag(cmd, &j.stateDir)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		fa := factsArgs{profile: profile, include: include, exclude: exclude, concurrency: concurrency, timeout: timeout}
		if err := fa.validate(); err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		s, err := j.setup(cmd.Context())
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		fleet, err := fleetFlags.load()
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		opts := collectors.Options{
			Profile: profile, Include: include, Exclude: exclude,
			Concurrency: concurrency, Timeout: timeout, Logger: a.log,
		}
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			opts.Progress = a.stderr
		}
		facts, err := collectors.Run(cmd.Context(), fleet, opts)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		if saveFacts != "" {
			if err := writeFacts(a.stdout, saveFacts, facts); err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
		}
		if facts.Interrupted != "" {
			// Judging half the fleet would report errors that are ours, not
			// the fleet's: the tool failed.
			return &exitError{code: results.ExitTool, err: fmt.Errorf("scan interrupted: %s", facts.Interrupted)}
		}
		return a.judgeAndReport(cmd.Context(), j, s, facts)
	}
	return cmd
}

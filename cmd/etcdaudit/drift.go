package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newDriftCmd) }

func newDriftCmd(a *app) *cobra.Command {
	var dir, from, to, fromFile, toFile, output string
	var o history.DriftOptions
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "What changed between two scans: control transitions and fact changes",
		Long: `drift compares two recorded scans (default: the latest and the one before it) and
lists controls that started failing, resolved, still fail or newly error, and the fact
changes that matter: member versions, members added, removed or unreachable, v2 keys
appearing or vanishing, the Kubernetes backend, events lease coverage, db size growth,
certificates nearing expiry, alarms, TLS and auth posture.

A scan is an id, an id prefix, "latest", "latest~N", a time or date (the newest scan at or
before it) or an age ("24h" = as things were a day ago). --from-file/--to-file compare
two saved JSON reports (etcdaudit scan --report json:F --include-facts) without a history.

When the state directory holds a remediation journal (remediation.db, written by
'remediate apply'), the runs on the compared clusters that ended between the two scans
are listed, and each change they explain names its run beside it (run id, action,
approver): a member upgraded by run X, v2 keys gone by run Y. A run in that window that
explains no change is listed too (every step found already done, or halted before acting).

Exit codes: 0 nothing got worse, 100 something got worse (a newly failing or erroring
control, or a fact change for the worse), 1 drift could not run.`,
		Example: `  etcdaudit drift --state-dir /var/lib/etcdaudit            # since the previous scan
  etcdaudit drift --from 24h -o markdown                     # since yesterday, for a ticket
  etcdaudit drift --from 2026-11-01 --to latest -o json | jq '.facts[] | select(.worse)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "cli" && output != "json" && output != "markdown" && output != "md" && output != "html" {
				return fmt.Errorf("-o %q: use cli, json, markdown or html", output)
			}
			var older, newer *results.Report
			var err error
			if fromFile != "" || toFile != "" {
				if fromFile == "" || toFile == "" {
					return fmt.Errorf("--from-file and --to-file go together")
				}
				if older, err = readReportFile(cmd.Context(), fromFile); err != nil {
					return err
				}
				if newer, err = readReportFile(cmd.Context(), toFile); err != nil {
					return err
				}
			} else {
				older, newer, err = driftPair(cmd, dir, from, to)
				if err != nil {
					return err
				}
				if older == nil {
					fmt.Fprintf(a.stderr, "etcdaudit: only one scan (%s) in the history: nothing to compare yet\n", newer.ScanID)
					return nil
				}
			}
			d, err := history.Diff(older, newer, o)
			if err != nil {
				return err
			}
			explainDrift(dir, a.log)(d, older, newer)
			if err := history.RenderDrift(a.stdout, output, d); err != nil {
				return err
			}
			if d.Worse {
				return &exitError{code: results.ExitFailed}
			}
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	fs := cmd.Flags()
	fs.StringVar(&from, "from", "", "older scan (default: the scan before --to)")
	fs.StringVar(&to, "to", "latest", "newer scan")
	fs.StringVar(&fromFile, "from-file", "", "older scan as a saved JSON report with facts")
	fs.StringVar(&toFile, "to-file", "", "newer scan as a saved JSON report with facts")
	fs.StringVarP(&output, "output", "o", "cli", "cli, json, markdown or html (a self-contained page)")
	addDriftFlags(fs, &o)
	return cmd
}

// addDriftFlags registers the drift thresholds (drift and serve).
func addDriftFlags(fs *pflag.FlagSet, o *history.DriftOptions) {
	fs.Float64Var(&o.LeaseCoverageDelta, "lease-coverage-delta", history.DefaultLeaseCoverageDelta, "drift: report events lease coverage moving by at least this ratio")
	fs.Float64Var(&o.DBGrowthRatio, "db-growth-ratio", history.DefaultDBGrowthRatio, "drift: report a member's db growing by at least this share ...")
	fs.Int64Var(&o.DBGrowthMinBytes, "db-growth-min-bytes", history.DefaultDBGrowthMinBytes, "... and at least this many bytes")
	fs.Float64Var(&o.CertWarnDays, "cert-warn-days", history.DefaultCertWarnDays, "drift: report a certificate entering its last N days")
}

// driftPair resolves --from/--to; older is nil when the history holds no
// scan before newer.
func driftPair(cmd *cobra.Command, dir, from, to string) (older, newer *results.Report, err error) {
	s, err := openHistory(cmd, dir)
	if err != nil {
		return nil, nil, err
	}
	ctx, now := cmd.Context(), time.Now()
	toE, err := s.Resolve(ctx, to, now)
	if err != nil {
		return nil, nil, fmt.Errorf("--to: %w", err)
	}
	var fromE history.Entry
	if from == "" {
		list, err := s.List(ctx, 0)
		if err != nil {
			return nil, nil, err
		}
		for i, e := range list {
			if e.ID == toE.ID && i+1 < len(list) {
				fromE = list[i+1]
			}
		}
	} else if fromE, err = s.Resolve(ctx, from, now); err != nil {
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	if newer, err = s.Get(ctx, toE.ID); err != nil {
		return nil, nil, err
	}
	if fromE.ID == "" {
		return nil, newer, nil
	}
	if fromE.StartedAt.After(toE.StartedAt) {
		return nil, nil, fmt.Errorf("--from %s started after --to %s: swap them", fromE.ID, toE.ID)
	}
	if older, err = s.Get(ctx, fromE.ID); err != nil {
		return nil, nil, err
	}
	return older, newer, nil
}

func readReportFile(ctx context.Context, path string) (*results.Report, error) {
	f, err := inputfile.Open(ctx, path, inputfile.Document)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	var r results.Report
	dec := json.NewDecoder(f)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	if r.Schema != "" && r.Schema != results.ReportSchema {
		return nil, fmt.Errorf("read report %s: schema %q, want %q", path, r.Schema, results.ReportSchema)
	}
	return &r, nil
}

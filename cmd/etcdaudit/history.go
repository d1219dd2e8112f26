package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/report"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newHistoryCmd) }

// stateDirEnv lets a CronJob or a shell set the state directory once.
const stateDirEnv = "ETCDAUDIT_STATE_DIR"

// addStateDirFlag registers --state-dir (default $ETCDAUDIT_STATE_DIR).
func addStateDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "state-dir", os.Getenv(stateDirEnv),
		"directory holding the scan history (history.db); env "+stateDirEnv)
}

// recordScan keeps a judged scan in dir's history: what `scan --state-dir`
// calls after judging (before deciding its exit code), so the CronJob mode
// and serve share one history and `drift` works after the second night.
// An interrupted scan is refused (history.ErrInterrupted). No dir: no-op.
func recordScan(ctx context.Context, a *app, dir string, rep *results.Report) error {
	if dir == "" {
		return nil
	}
	e, err := history.Record(ctx, dir, rep)
	if err != nil {
		return err
	}
	if a.log != nil {
		a.log.Info("scan recorded", "scan_id", e.ID, "state_dir", dir)
	}
	return nil
}

// openHistory opens dir's history for reading only: list, show, check and
// drift create and modify nothing, so they work on a read-only state dir.
func openHistory(cmd *cobra.Command, dir string) (*history.Store, error) {
	return openHistoryWith(cmd, dir, history.Options{ReadOnly: true})
}

func openHistoryWith(cmd *cobra.Command, dir string, opts history.Options) (*history.Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("--state-dir (or %s) is required", stateDirEnv)
	}
	return history.Open(cmd.Context(), dir, opts)
}

func newHistoryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List, show, check and prune recorded scans",
		Long: `Every scan run with --state-dir (and every scan of 'etcdaudit serve') is kept in
<state-dir>/history.db: the report and its facts, compressed, written in one atomic
transaction. A scan is named by its id, an unambiguous id prefix, "latest",
"latest~N", a time or date (the newest scan at or before it) or an age ("24h", "7d").`,
		Example: `  etcdaudit history list --state-dir /var/lib/etcdaudit -n 10
  etcdaudit history show latest~1 --state-dir /var/lib/etcdaudit
  etcdaudit history prune --keep 90 --max-age 90d --state-dir /var/lib/etcdaudit`,
	}
	cmd.AddCommand(newHistoryListCmd(a), newHistoryShowCmd(a), newHistoryPruneCmd(a), newHistoryCheckCmd(a))
	return cmd
}

func newHistoryListCmd(a *app) *cobra.Command {
	var dir, output string
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List recorded scans, newest first",
		Example: "  etcdaudit history list --state-dir /var/lib/etcdaudit -n 10\n  etcdaudit history list -o json | jq '.[0].counts'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: use table or json", output)
			}
			s, err := openHistory(cmd, dir)
			if err != nil {
				return err
			}
			list, err := s.List(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if output == "json" {
				if list == nil {
					list = []history.Entry{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTARTED (UTC)\tDURATION\tCLUSTERS\tMEMBERS\tPASSED\tFAILED\tERROR\tSKIPPED\tWAIVED\tCOMPLIANCE\tSIZE")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f%%\t%s\n", e.ID,
					e.StartedAt.UTC().Format(time.DateTime), e.FinishedAt.Sub(e.StartedAt).Round(time.Second),
					e.Clusters, e.Members, e.Counts.Passed, e.Counts.Failed, e.Counts.Error, e.Counts.Skipped,
					e.Counts.Waived, 100*e.Compliance(), kib(e.ReportBytes+e.FactsBytes))
			}
			return tw.Flush()
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "show at most this many scans (0: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func kib(n int) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

func newHistoryShowCmd(a *app) *cobra.Command {
	var dir, output string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "show [SCAN]",
		Short: "Show one recorded scan (default: the latest) in any report format",
		Example: `  etcdaudit history show latest
  etcdaudit history show 20261126T020000Z -o html > scan.html
  etcdaudit history show 7d -o json | jq '.facts.clusters[].name'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openHistory(cmd, dir)
			if err != nil {
				return err
			}
			ref := "latest"
			if len(args) == 1 {
				ref = args[0]
			}
			e, err := s.Resolve(cmd.Context(), ref, time.Now())
			if err != nil {
				return err
			}
			rep, err := s.Get(cmd.Context(), e.ID)
			if err != nil {
				return err
			}
			return report.Render(a.stdout, output, rep, report.Options{Verbose: verbose, IncludeFacts: true, Logger: a.log})
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().StringVarP(&output, "output", "o", "cli", "report format: cli, json (with facts), junit, html, markdown, prometheus")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passed results too")
	return cmd
}

func newHistoryPruneCmd(a *app) *cobra.Command {
	var dir, maxAge string
	var keep int
	var save, dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete old scans by count and age (the newest scan is always kept)",
		Long: `prune deletes scans beyond the newest --keep and scans older than --max-age, in one
transaction. With --save the policy is stored in the history file and applied after every
later recorded scan (scan --state-dir and serve), so one setting serves both modes.`,
		Example: `  etcdaudit history prune --keep 365 --max-age 400d --save
  etcdaudit history prune --max-age 30d --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := history.Retention{Keep: keep}
			if keep < 0 {
				return fmt.Errorf("--keep %d: must be 0 (no count limit) or more", keep)
			}
			if maxAge != "" {
				d, err := history.ParseAge(maxAge)
				if err != nil {
					return fmt.Errorf("--max-age: %w", err)
				}
				r.MaxAge = d
			}
			if r.IsZero() && !save {
				return fmt.Errorf("give --keep N and/or --max-age D")
			}
			// A dry run only reads; pruning and saving write (the file
			// must exist: prune creates no history).
			s, err := openHistoryWith(cmd, dir, history.Options{ReadOnly: dryRun && !save})
			if err != nil {
				return err
			}
			now := time.Now()
			if dryRun {
				list, err := s.List(cmd.Context(), 0)
				if err != nil {
					return err
				}
				n := 0
				for i, e := range list {
					if i > 0 && ((r.Keep > 0 && i >= r.Keep) || (r.MaxAge > 0 && e.StartedAt.Before(now.Add(-r.MaxAge)))) {
						fmt.Fprintf(a.stdout, "would delete %s (%s)\n", e.ID, e.StartedAt.UTC().Format(time.DateTime))
						n++
					}
				}
				fmt.Fprintf(a.stdout, "%s: would delete %d of %d scans\n", r, n, len(list))
				return nil
			}
			pruned, err := s.Prune(cmd.Context(), r, now)
			if err != nil {
				return err
			}
			for _, e := range pruned {
				fmt.Fprintf(a.stdout, "deleted %s (%s)\n", e.ID, e.StartedAt.UTC().Format(time.DateTime))
			}
			fmt.Fprintf(a.stdout, "%s: deleted %d scans\n", r, len(pruned))
			if save {
				if err := s.SaveRetention(cmd.Context(), r); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "saved: every recorded scan now prunes with %q\n", r)
			}
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().IntVar(&keep, "keep", 0, "keep the newest N scans (0: no count limit)")
	cmd.Flags().StringVar(&maxAge, "max-age", "", "delete scans older than this (e.g. 720h, 90d)")
	cmd.Flags().BoolVar(&save, "save", false, "store this policy in the history; later recorded scans apply it")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be deleted")
	return cmd
}

func newHistoryCheckCmd(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "check",
		Short:   "Verify the history file: bbolt page consistency and every scan's report and facts present",
		Example: "  etcdaudit history check --state-dir /var/lib/etcdaudit",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openHistory(cmd, dir)
			if err != nil {
				return err
			}
			if err := s.Check(cmd.Context()); err != nil {
				return err
			}
			list, err := s.List(cmd.Context(), 0)
			if err != nil {
				return err
			}
			bad := 0
			for _, e := range list {
				if _, err := s.Get(cmd.Context(), e.ID); err != nil {
					fmt.Fprintf(a.stdout, "%s: %v\n", e.ID, err)
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("%s: %d of %d scans unreadable", s.Path(), bad, len(list))
			}
			r, err := s.SavedRetention(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: OK, %d scans, retention: %s\n", s.Path(), len(list), r)
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	return cmd
}

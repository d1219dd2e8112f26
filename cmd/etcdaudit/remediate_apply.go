package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() {
	remediateCommands = append(remediateCommands, newRemediateApplyCmd, newRemediateResumeCmd, newRemediateStatusCmd, newRemediateRollbackCmd)
}

// engineFlags are what apply, resume and rollback need to reach the fleet.
type engineFlags struct {
	fleet         *fleetFlags
	stateDir      string
	gate          string
	policyDirs    []string
	data          []string
	waivers       string
	lockEndpoints []string
}

func addEngineFlags(cmd *cobra.Command) *engineFlags {
	f := &engineFlags{fleet: addFleetFlags(cmd)}
	fs := cmd.Flags()
	addStateDirFlag(cmd, &f.stateDir)
	fs.StringVar(&f.gate, "gate", "", "gate policy file (Rego, package etcdaudit.gate) replacing the bundled one")
	fs.StringArrayVar(&f.policyDirs, "policy", nil, "extra controls for the re-scans (the same as for plan); repeatable")
	fs.StringArrayVar(&f.data, "data", nil, "data files for the re-scans (the same as for plan); repeatable")
	fs.StringVar(&f.waivers, "waivers", "", "waivers file for the re-scans")
	fs.StringSliceVar(&f.lockEndpoints, "lock-endpoints", nil, "coordination etcd for the per-cluster lock, with the TLS and auth of the inventory's lock section (default: that section's endpoints, else a lock file in --state-dir)")
	return f
}

// engine builds the remediation engine. It opens nothing: the engine dials
// the coordination etcd of the lock per cluster run and closes it after.
func (f *engineFlags) engine(ctx context.Context, a *app) (*remediate.Engine, error) {
	if f.stateDir == "" {
		return nil, errors.New("--state-dir is required: the journal and the backups live there")
	}
	fleet, err := f.fleet.load()
	if err != nil {
		return nil, err
	}
	gate, err := remediate.NewGate(ctx, f.gate)
	if err != nil {
		return nil, err
	}
	eng, err := policies.New(ctx, policies.Config{PolicyDirs: f.policyDirs, DataFiles: f.data})
	if err != nil {
		return nil, err
	}
	var w *policies.Waivers
	if f.waivers != "" {
		if w, err = policies.LoadWaiversContext(ctx, f.waivers); err != nil {
			return nil, err
		}
	}
	runners, err := hookRunners(fleet)
	if err != nil {
		return nil, err
	}
	e := &remediate.Engine{
		Fleet: fleet, StateDir: f.stateDir, Gate: gate, Hooks: runners, Out: a.stdout, Log: a.log,
		Judge: func(ctx context.Context, facts *collectors.Facts) (*results.Report, error) {
			return policies.Judge(ctx, eng, facts, w, time.Now().UTC())
		},
	}
	if len(f.lockEndpoints) > 0 {
		// The flag's endpoints, with the lock section's TLS and auth if any.
		lc := inventory.Cluster{Name: "lock"}
		if fleet.Lock != nil {
			lc = *fleet.Lock
		}
		lc.Endpoints = f.lockEndpoints
		fleet.Lock = &lc
	}
	return e, nil
}

// gateFlags are apply's and resume's run options.
type gateFlags struct {
	approve       bool
	allowTiers    []string
	maxClusters   int
	noCanaryPause bool
}

func addGateFlags(cmd *cobra.Command) *gateFlags {
	g := &gateFlags{}
	fs := cmd.Flags()
	fs.BoolVar(&g.approve, "approve", false, "required: you read the plan and want it run")
	fs.StringSliceVar(&g.allowTiers, "allow-tier", nil, "tiers the default gate allows only when named (large)")
	fs.IntVar(&g.maxClusters, "max-clusters", 0, "start at most this many clusters in this run (0: no limit)")
	fs.BoolVar(&g.noCanaryPause, "no-canary-pause", false, "do not pause after the first cluster of each tier")
	return g
}

func (g *gateFlags) options() remediate.ApplyOptions {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return remediate.ApplyOptions{Approve: g.approve, Approver: who + "@" + host, AllowTiers: g.allowTiers, MaxClusters: g.maxClusters, NoCanaryPause: g.noCanaryPause}
}

// outcomeError maps a run's end to an exit: 0 done, 1 anything else (a
// paused run included: a script must not take it for a finished one).
func outcomeError(o remediate.Outcome, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, remediate.ErrPaused):
		return &exitError{code: results.ExitTool, err: fmt.Errorf("run %s paused: %s", o.RunID, o.Reason)}
	case o.RunID != "":
		return &exitError{code: results.ExitTool, err: fmt.Errorf("run %s %s: %w (see: etcdaudit remediate status %s)", o.RunID, o.Status, err, o.RunID)}
	}
	return &exitError{code: results.ExitTool, err: err}
}

func newRemediateApplyCmd(a *app) *cobra.Command {
	var planPath string
	cmd := &cobra.Command{
		Use:   "apply -f fleet.yaml --plan plan.json --approve --state-dir DIR",
		Short: "Run an approved plan: gated, journaled, one cluster at a time",
		Long: `apply runs exactly the steps of a plan written by "remediate plan -o". Without
--approve it does nothing. It refuses a cluster whose live facts no longer match the
plan's fingerprint (make a new plan), asks the gate before each cluster, takes the
cluster's lock, and then for every step: checks whether it is done already, journals
it, runs its hooks, checks its postconditions and runs the verify hook. A hop's
verified v3 backup comes before its first destructive step. After each cluster a
re-scan must show the motivating controls passing and nothing that passed failing.
The run pauses after the first cluster of each tier (resume it) and halts at the
first failure (status, resume, rollback).

Exit codes: 0 the run finished, 1 it did not (not approved, stale plan, gate
denial, paused, halted) or etcdaudit could not run.`,
		Example: `  etcdaudit remediate apply -f fleet.yaml --plan plan.json --approve --state-dir /var/lib/etcdaudit
  etcdaudit remediate apply -f fleet.yaml --plan plan.json --approve --state-dir D --allow-tier large --no-canary-pause`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&planPath, "plan", "", "the plan JSON (remediate plan -o)")
	ef := addEngineFlags(cmd)
	gf := addGateFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if planPath == "" {
			return &exitError{code: results.ExitTool, err: errors.New("--plan is required")}
		}
		b, err := inputfile.Read(cmd.Context(), planPath, inputfile.Document)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		p, err := remediate.DecodePlan(b)
		if err != nil {
			return &exitError{code: results.ExitTool, err: fmt.Errorf("%s: %w", planPath, err)}
		}
		if !gf.approve {
			return &exitError{code: results.ExitTool, err: remediate.ErrNotApproved}
		}
		e, err := ef.engine(cmd.Context(), a)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		return outcomeError(e.Apply(cmd.Context(), p, gf.options()))
	}
	return cmd
}

func newRemediateResumeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume RUN -f fleet.yaml --approve --state-dir DIR",
		Short: "Continue a paused, halted or killed run where its journal says",
		Long: `resume continues a run from its journal: steps recorded done are skipped, the step
that was running is checked (done already, or run again: every step is idempotent),
and the remaining clusters are fingerprinted and gated as apply does.

Exit codes: 0 the run finished, 1 it did not or etcdaudit could not run.`,
		Example: `  etcdaudit remediate resume 20261204T160000Z-a1b2c3 -f fleet.yaml --approve --state-dir /var/lib/etcdaudit`,
		Args:    cobra.ExactArgs(1),
	}
	ef := addEngineFlags(cmd)
	gf := addGateFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !gf.approve {
			return &exitError{code: results.ExitTool, err: remediate.ErrNotApproved}
		}
		e, err := ef.engine(cmd.Context(), a)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		return outcomeError(e.Resume(cmd.Context(), args[0], gf.options()))
	}
	return cmd
}

func newRemediateRollbackCmd(a *app) *cobra.Command {
	var o remediate.RollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback RUN -f fleet.yaml --state-dir DIR",
		Short: "Return a run's clusters to the versions they had",
		Long: `rollback undoes a run's upgrades, newest first: it swaps binaries back while the
cluster version has not moved; where it has and etcd supports it (3.6 -> 3.5,
3.7 -> 3.6) it first lowers the cluster version with etcd's downgrade API. Otherwise
it prints how many revisions restoring the run's first backup would drop, and
restores it only with --restore-snapshot. Flag changes (--enable-v2 off, the snapshot
count) are not undone. The v2 data steps are undone while the members still serve
v2: the cleanup by re-importing the verified v2 dump, the backend switch by setting
the writers back to etcd2, the copy by deleting exactly the keys it wrote (key and
mod revision), the writers' stop by starting them.

Exit codes: 0 rolled back, 1 not (the reason is printed) or etcdaudit could not run.`,
		Example: `  etcdaudit remediate rollback 20261204T160000Z-a1b2c3 -f fleet.yaml --state-dir /var/lib/etcdaudit`,
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVar(&o.RestoreSnapshot, "restore-snapshot", false, "allow restoring the run's first backup (drops every write since; the count is printed first)")
	ef := addEngineFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		e, err := ef.engine(cmd.Context(), a)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		return outcomeError(e.Rollback(cmd.Context(), args[0], o))
	}
	return cmd
}

func newRemediateStatusCmd(a *app) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "status [RUN] --state-dir DIR",
		Short: "Show remediation runs, or one run's steps, from the journal",
		Example: `  etcdaudit remediate status --state-dir /var/lib/etcdaudit
  etcdaudit remediate status 20261204T160000Z-a1b2c3 --state-dir /var/lib/etcdaudit`,
		Args: cobra.MaximumNArgs(1),
	}
	addStateDirFlag(cmd, &stateDir)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if stateDir == "" {
			return &exitError{code: results.ExitTool, err: errors.New("--state-dir is required")}
		}
		j, err := journal.OpenReadOnly(stateDir)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		if len(args) == 0 {
			runs, err := j.Runs()
			if err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
			for _, r := range runs {
				fmt.Fprintf(a.stdout, "%s  %-11s %s  %s\n", r.ID, r.Status, r.Started.Format(time.RFC3339), r.Reason)
			}
			return nil
		}
		run, err := j.Run(args[0])
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		steps, err := j.Steps(run.ID)
		if err != nil {
			return &exitError{code: results.ExitTool, err: err}
		}
		return writeOrTool(remediate.WriteStatus(a.stdout, run, steps))
	}
	return cmd
}

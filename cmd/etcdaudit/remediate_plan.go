package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/atomicfile"
	"github.com/etcdaudit/etcdaudit/internal/buildinfo"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { remediateCommands = append(remediateCommands, newRemediatePlanCmd) }

// planArgs are remediate plan's flags.
type planArgs struct {
	from, facts, output string
	clusters, actions   []string
	target              string
	via                 []string
	policyDirs, data    []string
	waivers, stateDir   string
	timeout             time.Duration
	json                bool
}

func (p *planArgs) validate() (map[string]string, error) {
	var errs []error
	if p.from != "" && p.facts != "" {
		errs = append(errs, errors.New("--from and --facts cannot be combined: a report already holds its facts"))
	}
	if p.target != "" {
		if _, err := etcdversion.Parse(p.target); err != nil {
			errs = append(errs, fmt.Errorf("--target: %w", err))
		}
	}
	via := map[string]string{}
	for _, v := range p.via {
		pv, err := etcdversion.Parse(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--via: %w", err))
			continue
		}
		if old, dup := via[pv.MajorMinor()]; dup {
			errs = append(errs, fmt.Errorf("--via: %s and %s are both on %s", old, v, pv.MajorMinor()))
		}
		via[pv.MajorMinor()] = v
	}
	known := map[string]bool{remediate.ActionUpgrade: true, remediate.ActionMigrateV2: true, remediate.ActionAttachEventLeases: true, remediate.ActionSwitchBackend: true, remediate.ActionCleanupV2: true}
	for _, a := range p.actions {
		if !known[a] {
			errs = append(errs, fmt.Errorf("--actions: unknown action %q (upgrade, migrate-v2-to-v3, attach-event-leases, switch-backend, cleanup-v2)", a))
		}
	}
	if p.timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want 0 (none) or more", p.timeout))
	}
	return via, errors.Join(errs...)
}

func newRemediatePlanCmd(a *app) *cobra.Command {
	var p planArgs
	cmd := &cobra.Command{
		Use:   "plan (-f fleet.yaml | --endpoints URL,...) [--from report.json | --facts facts.json] [-o plan.json]",
		Short: "Make a remediation plan from failing controls (reads the fleet, changes nothing)",
		Long: `plan collects facts (full profile, read-only: nothing is written to the fleet) or
reads them (--facts, or a JSON report saved with its facts: --from), judges them
with the controls, and for every failing control that names a remediation plans
the fix per cluster: ordered steps, each with the member it touches, its pre- and
postconditions, the hooks exactly as they will run (secrets redacted), where its
backup goes, its expected duration and the controls that motivated it.

The upgrade action goes one minor at a time to the baseline target (--target),
landing on the baseline's minimum of each line crossed unless --via names the
version to land on. A cluster the planner cannot upgrade safely (a skipped minor,
custom v2 data, a missing hook, a member down) is refused with the reason.

The plan is printed for people; -o writes the JSON apply runs (etcdaudit.plan/v1,
schema/plan.schema.json), with a fingerprint of the facts per cluster.

Exit codes: 0 a plan was made (refused clusters included), 1 etcdaudit could not run.`,
		Example: `  etcdaudit remediate plan -f fleet.yaml -o plan.json
  etcdaudit remediate plan -f fleet.yaml --via 3.5.35,3.6.16 --target 3.7.3 -o plan.json
  etcdaudit remediate plan -f fleet.yaml --facts facts.json --clusters prod-eu --actions upgrade
  etcdaudit remediate plan -f fleet.yaml --from scan.json --json`,
		Args: cobra.NoArgs,
	}
	fleetFlags := addFleetFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&p.from, "from", "", "a JSON report written with its facts (scan --report json:PATH --include-facts)")
	fs.StringVar(&p.facts, "facts", "", "a facts JSON file (etcdaudit facts -o) to judge instead of collecting")
	fs.StringVarP(&p.output, "output", "o", "", "write the plan JSON here (apply reads it)")
	fs.StringSliceVar(&p.clusters, "clusters", nil, "plan only these clusters (comma-separated)")
	fs.StringSliceVar(&p.actions, "actions", nil, "plan only these actions (comma-separated; default every action a failing control names)")
	fs.StringVar(&p.target, "target", "", "version to bring every member to (default: the baseline target)")
	fs.StringSliceVar(&p.via, "via", nil, "versions to land on for the minor lines crossed, e.g. 3.5.35,3.6.16 (default: the baseline minimum of each line)")
	fs.StringArrayVar(&p.policyDirs, "policy", nil, "folder (or .rego file) of extra controls; repeatable")
	fs.StringArrayVar(&p.data, "data", nil, "YAML/JSON file deep-merged over the bundled data (baseline, upgrade); repeatable")
	fs.StringVar(&p.waivers, "waivers", "", "waivers file (YAML): waived controls are not remediated")
	fs.DurationVar(&p.timeout, "timeout", 0, "deadline for the collection (0: none)")
	fs.BoolVar(&p.json, "json", false, "print the plan JSON on stdout instead of the text")
	addStateDirFlag(cmd, &p.stateDir)
	color := addColorFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		tool := func(err error) error { return &exitError{code: results.ExitTool, err: err} }
		via, err := p.validate()
		if err != nil {
			return tool(err)
		}
		useColor, err := color.use(a.stdout)
		if err != nil {
			return tool(err)
		}
		fleet, err := fleetFlags.load()
		if err != nil {
			return tool(err)
		}
		plan, err := makePlan(cmd.Context(), a, &p, via, fleet)
		if err != nil {
			return tool(err)
		}
		if p.output != "" {
			if err := atomicfile.Write(p.output, func(w io.Writer) error { return remediate.WriteJSON(w, plan) }); err != nil {
				return tool(fmt.Errorf("write plan: %w", err))
			}
		}
		if p.json {
			return writeOrTool(remediate.WriteJSON(a.stdout, plan))
		}
		return writeOrTool(remediate.RenderText(a.stdout, plan, useColor))
	}
	return cmd
}

func writeOrTool(err error) error {
	if err != nil {
		return &exitError{code: results.ExitTool, err: err}
	}
	return nil
}

// makePlan gets judged facts (collected, read, or from a report) and plans.
func makePlan(ctx context.Context, a *app, p *planArgs, via map[string]string, fleet *inventory.Fleet) (*remediate.Plan, error) {
	raw, err := policies.LoadData(p.data)
	if err != nil {
		return nil, err
	}
	data, err := remediate.UpgradeDataFrom(raw)
	if err != nil {
		return nil, err
	}
	var rep *results.Report
	var facts *collectors.Facts
	if p.from != "" {
		if rep, err = readReport(ctx, p.from, os.Stdin); err != nil {
			return nil, err
		}
		if rep.Facts == nil {
			return nil, fmt.Errorf("report %s holds no facts: save it with --include-facts, or give --facts", p.from)
		}
		facts = rep.Facts
	} else {
		eng, err := policies.New(ctx, policies.Config{PolicyDirs: p.policyDirs, DataFiles: p.data})
		if err != nil {
			return nil, err
		}
		var w *policies.Waivers
		if p.waivers != "" {
			if w, err = policies.LoadWaiversContext(ctx, p.waivers); err != nil {
				return nil, err
			}
		}
		if p.facts != "" {
			if facts, err = readFactsFile(ctx, p.facts, os.Stdin); err != nil {
				return nil, err
			}
		} else {
			facts, err = collectors.Run(ctx, fleet, collectors.Options{Profile: collectors.ProfileFull, Timeout: p.timeout, Logger: a.log})
			if err != nil {
				return nil, err
			}
			if facts.Interrupted != "" {
				return nil, fmt.Errorf("collection interrupted: %s", facts.Interrupted)
			}
		}
		if rep, err = policies.Judge(ctx, eng, facts, w, time.Now().UTC()); err != nil {
			return nil, err
		}
	}
	backups := "backups"
	if p.stateDir != "" {
		backups = filepath.Join(p.stateDir, "backups")
	}
	runners, err := hookRunners(fleet)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	return remediate.MakePlan(rep, facts, fleet, data, remediate.Options{
		Target: p.target, Via: via, Actions: p.actions, Clusters: p.clusters,
		BackupDir: backups, ToolVersion: buildinfo.Version, Now: now,
		Data: remediate.V2Planner{BackupDir: backups, Now: now},
		Hooks: func(c string) remediate.HookSet {
			if r := runners[c]; r != nil {
				return remediate.InventoryHooks(r)
			}
			return nil
		},
	})
}

// hookRunners returns each cluster's hook runner, with its password as a
// secret to redact; a template typo in any hook is an error now, not mid-run.
func hookRunners(fleet *inventory.Fleet) (map[string]*hooks.Runner, error) {
	out := map[string]*hooks.Runner{}
	var errs []string
	for _, c := range fleet.Clusters {
		if len(c.Hooks) == 0 {
			continue
		}
		var secrets []string
		if c.Auth.User != "" {
			conn, err := inventory.Connect(c)
			if err != nil {
				return nil, err
			}
			if _, pw := conn.Credentials(); pw != "" {
				secrets = append(secrets, pw)
			}
		}
		r := hooks.NewRunner(c.Hooks, hooks.Options{Timeouts: c.HookTimeouts, Secrets: secrets})
		if err := r.Check(); err != nil {
			errs = append(errs, fmt.Sprintf("cluster %s: %v", c.Name, err))
		}
		out[c.Name] = r
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("inventory hooks: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

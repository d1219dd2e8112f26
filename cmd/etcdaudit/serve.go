package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/service"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveOptions are serve's flags, parsed into the service's config.
type serveOptions struct {
	stateDir, listen, schedule, tokenFile, maxAge, profile, waivers string
	jitter, scanTimeout                                             time.Duration
	keep, concurrency, trend, maxLookups                            int
	allowedHosts                                                    []string
	scanOnStart, remediate                                          bool
	gate, target                                                    string
	policy                                                          policies.Config
	drift                                                           history.DriftOptions
}

func newServeCmd(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Scan on a schedule, keep the history, serve reports, drift, an API and Prometheus metrics",
		Long: `serve scans the fleet on a schedule (cron or interval, with jitter), records every
scan in <state-dir>/history.db, and serves on --listen (loopback unless told otherwise):

  /                 the latest scan: "since last scan" drift and a compliance trend
  /report           the latest HTML report; /scans/ID an older one
  /metrics          Prometheus: the latest scan's gauges, scan duration histogram,
                    collector errors by collector, last success timestamp
  /api/scans        recorded scans (GET); POST starts a scan now, with
                    "Authorization: Bearer <token from --token-file>" (?wait=true waits)
  /api/scans/ID     one scan as JSON (with facts), or ?format=html|markdown|junit|prometheus
  /api/drift        drift between the last two scans, or ?from=REF&to=REF (&format=markdown)
  /api/plans        with --remediate: plans after each scan, the gate's auto/approve/deny
                    and reason; POST /api/plans/ID/approve|reject with the token and
                    {"approver": NAME} (docs/serve.md, "Auto-remediation")
  /healthz /readyz  liveness and readiness: /readyz is 503 while the history file is
                    damaged or cannot be written, saying why and what to do

On a loopback --listen only requests for loopback names (localhost, 127.0.0.1, [::1])
are served, so a web page cannot reach the API by DNS rebinding; --allowed-hosts adds
names (a reverse proxy's, or with a non-loopback --listen, the names clients use).
A damaged history does not stop serve: it runs not ready (scans fail with the reason)
and recovers by itself once the file is moved aside or restored from a backup.

Two scans never overlap: a scheduled time that finds a scan running is skipped.
SIGTERM cancels a running scan (it is not recorded) and stops cleanly. The inventory
and the waivers are re-read before each scan; the policies are compiled once at start.`,
		Example: `  etcdaudit serve -f fleet.yaml --state-dir /var/lib/etcdaudit --schedule "0 2 * * *" --jitter 10m
  etcdaudit serve -f fleet.yaml --state-dir ./state --schedule "@every 1h" --token-file token
  curl -H "Authorization: Bearer $(cat token)" -X POST 'http://127.0.0.1:9477/api/scans?wait=true'
  etcdaudit serve -f fleet.yaml --state-dir ./state --token-file token --remediate --gate examples/gate/serve-gate.rego`,
		Args: cobra.NoArgs,
	}
	ff := addFleetFlags(cmd)
	fs := cmd.Flags()
	addStateDirFlag(cmd, &o.stateDir)
	fs.StringVar(&o.listen, "listen", service.DefaultListen, "address to serve on; 0.0.0.0:9477 only when the network is trusted or fronted")
	fs.StringVar(&o.schedule, "schedule", "@daily", `when to scan: cron ("0 2 * * *"), @daily, @hourly, "@every 6h"; "" for on-demand only`)
	fs.DurationVar(&o.jitter, "jitter", 0, "delay each scheduled scan by a random duration up to this")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token POST /api/scans requires (re-read per request); unset disables on-demand scans")
	fs.DurationVar(&o.scanTimeout, "scan-timeout", time.Hour, "bound on one scan; a scan cut short is not recorded")
	fs.BoolVar(&o.scanOnStart, "scan-on-start", true, "scan at once when the history is empty")
	fs.IntVar(&o.keep, "keep", 0, "keep the newest N scans (0: the policy saved by 'history prune --save', or all)")
	fs.StringVar(&o.maxAge, "max-age", "", "delete scans older than this after each scan (e.g. 90d)")
	fs.IntVar(&o.trend, "trend-scans", 30, "scans shown in the compliance trend")
	fs.StringVar(&o.profile, "profile", collectors.ProfileDefault, profileHelp)
	fs.IntVar(&o.concurrency, "concurrency", 0, "members scanned at once (0: the collectors' default)")
	fs.StringArrayVar(&o.policy.PolicyDirs, "policy", nil, "extra policy folder or .rego file (repeatable)")
	fs.StringArrayVar(&o.policy.DataFiles, "data", nil, "data file deep-merged over the bundled baseline (repeatable)")
	fs.BoolVar(&o.policy.NoBuiltin, "no-builtin", false, "leave out the bundled control pack")
	fs.StringSliceVar(&o.policy.Controls, "controls", nil, "only these control ids or globs")
	fs.StringSliceVar(&o.policy.Tags, "tags", nil, "only controls with one of these tags")
	addAllowNetFlag(fs, &o.policy.AllowNetBuiltins)
	fs.DurationVar(&o.policy.EvalTimeout, "eval-timeout", policies.DefaultEvalTimeout, "deadline of each evaluation (one subject's controls); a control still running then is an error result")
	fs.StringVar(&o.waivers, "waivers", "", "waivers file (re-read before each scan)")
	fs.StringSliceVar(&o.allowedHosts, "allowed-hosts", nil, "Host header names served besides loopback names (e.g. audit.example.com, *.corp.example); on loopback every other Host is refused (DNS rebinding), beyond loopback the check applies once this is set")
	fs.IntVar(&o.maxLookups, "max-lookups", service.DefaultMaxLookups, "scan lookups (GET /api/scans/ID, /report, /scans/ID, /api/drift) served at once; more wait up to 5s, then get 503 with Retry-After")
	addDriftFlags(fs, &o.drift)
	fs.BoolVar(&o.remediate, "remediate", false, "after each recorded scan, plan the failing controls that name a remediation: run what the gate answers auto for, list what needs approval at /api/plans (off: serve never writes to the fleet)")
	fs.StringVar(&o.gate, "gate", "", "gate policy file (Rego, package etcdaudit.gate) for --remediate; the bundled gate never answers auto")
	fs.StringVar(&o.target, "target", "", "version --remediate upgrades to (default: the baseline target)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.stateDir == "" {
			return fmt.Errorf("--state-dir (or %s) is required: serve records every scan there", stateDirEnv)
		}
		if !collectors.ValidProfile(o.profile) {
			return fmt.Errorf("--profile %q: want one of %s", o.profile, strings.Join(collectors.Profiles, ", "))
		}
		ret := history.Retention{Keep: o.keep}
		if o.maxAge != "" {
			d, err := history.ParseAge(o.maxAge)
			if err != nil {
				return fmt.Errorf("--max-age: %w", err)
			}
			ret.MaxAge = d
		}
		fleet, err := ff.load()
		if err != nil {
			return err
		}
		fc := service.FleetConfig{Policies: o.policy, Waivers: o.waivers,
			Collect: collectors.Options{Profile: o.profile, Concurrency: o.concurrency, Timeout: o.scanTimeout, Logger: a.log}}
		if ff.file != "" && !cmd.Flags().Changed("dial-timeout") && !cmd.Flags().Changed("command-timeout") {
			fc.Inventory = ff.file // re-read per scan, so an edited inventory applies
		} else {
			fc.Fleet = fleet
		}
		ctx := cmd.Context()
		scan, err := service.FleetScanner(ctx, fc)
		if err != nil {
			return err
		}
		cfg := service.Config{Scan: scan, StateDir: o.stateDir, Listen: o.listen,
			Schedule: o.schedule, Jitter: o.jitter, ScanOnStart: o.scanOnStart, ScanTimeout: o.scanTimeout,
			TokenFile: o.tokenFile, Retention: ret, TrendScans: o.trend, Drift: o.drift, Logger: a.log,
			AllowedHosts: o.allowedHosts, MaxLookups: o.maxLookups, ExplainDrift: explainDrift(o.stateDir, a.log)}
		if !o.remediate && (o.gate != "" || o.target != "") {
			return fmt.Errorf("--gate and --target take effect with --remediate only")
		}
		if o.remediate {
			load := func() (*inventory.Fleet, error) { return fleet, nil }
			if fc.Inventory != "" {
				load = func() (*inventory.Fleet, error) { return inventory.Load(fc.Inventory) }
			}
			rem, err := newServeRemediator(ctx, a, &o, load)
			if err != nil {
				return fmt.Errorf("--remediate: %w", err)
			}
			cfg.Remediate = rem
		}
		srv, err := service.New(ctx, cfg)
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	}
	return cmd
}

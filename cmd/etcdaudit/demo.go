package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/demo"
	"github.com/etcdaudit/etcdaudit/results"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// demoBaseline retargets the demo's baseline at the embedded servers'
// version, so the compliant cluster is judged compliant; everything else
// in the pack's data stays as shipped.
const demoBaseline = `# The demo fleet runs embedded etcd 3.5.35; judge it against that target.
baseline:
  target: "3.5.35"
`

func newDemoCmd(a *app) *cobra.Command {
	var (
		dir  string
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start an in-process demo fleet that tells the etcd upgrade tale, and audit it",
		Long: `demo starts three small etcd clusters in-process (embedded etcd 3.5.35, loopback only):

  legacy         Kubernetes still on the etcd2 backend: /registry lives in the v2 store
  half-migrated  copied to v3 offline, but events lost their TTLs and v2 leftovers remain
  compliant      etcd3 backend, events leased, v2 off, TLS with client certificates

It writes the fleet's inventory (fleet.yaml) into --dir, shows the members discovery
finds, runs a default (standard profile) scan, prints the terminal report and writes
report.html and report.json beside the inventory. With --keep the fleet keeps running
until Ctrl-C so other commands can be pointed at it.

The legacy cluster's inventory entry has writer hooks (stop_writers, start_writers,
set_backend, verify) that call 'etcdaudit demo hook': the running demo stands in for its
Kubernetes API servers, so 'remediate plan/apply/resume/rollback' can migrate its v2 data
for real (docs/remediation.md, "Try it on the demo fleet"). Upgrades stay plan-only: the
members run inside this process, no hook can swap their binary.

The exit code is 0 when the demo ran (the failing controls are the point), 1 when it could not.`,
		Example: `  etcdaudit demo
  etcdaudit demo --keep --dir /tmp/demo   # then, in another terminal:
  etcdaudit scan -f /tmp/demo/fleet.yaml --data /tmp/demo/baseline.yaml --report html:/tmp/demo/mine.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dir == "" {
				d, err := os.MkdirTemp("", "etcdaudit-demo-")
				if err != nil {
					return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: %w", err)}
				}
				dir = d
			}
			dir, err := filepath.Abs(dir)
			if err != nil {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: %w", err)}
			}
			fmt.Fprintf(a.stdout, "Starting the demo fleet in %s ...\n", dir)
			exe, err := os.Executable()
			if err != nil {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: %w", err)}
			}
			fleet, err := demo.StartWith(ctx, dir, demo.Options{HookCommand: []string{exe, "demo", "hook", "--dir", dir}})
			if err != nil {
				return &exitError{code: results.ExitTool, err: err}
			}
			defer fleet.Close()
			baseline := filepath.Join(dir, "baseline.yaml")
			if err := os.WriteFile(baseline, []byte(demoBaseline), 0o600); err != nil {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: %w", err)}
			}
			fmt.Fprintf(a.stdout, "Inventory: %s\n\n", fleet.Inventory)

			// The demo runs the very commands a user would, in-process.
			sub := func(args ...string) int { return runContext(ctx, args, a.stdout, a.stderr) }
			if code := sub("inventory", "discover", "-f", fleet.Inventory); code != 0 {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: discovery failed (exit %d)", code)}
			}
			html, js := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json")
			code := sub("scan", "-f", fleet.Inventory, "--data", baseline,
				"--report", "cli", "--report", "html:"+html, "--report", "json:"+js)
			if code == results.ExitTool {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo: scan could not run")}
			}
			fmt.Fprintf(a.stdout, "\nScan exit code %d (100 = some controls failed, as the story says).\n", code)
			fmt.Fprintf(a.stdout, "HTML report: %s\nJSON report: %s\n", html, js)
			if keep {
				fmt.Fprintf(a.stdout, "\nThe demo fleet keeps running; point other commands at it:\n"+
					"  etcdaudit scan -f %s --data %s\nPress Ctrl-C to stop it.\n", fleet.Inventory, baseline)
				<-ctx.Done()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the fleet's data, inventory and reports (default: a new temp dir)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the fleet running until Ctrl-C")
	cmd.AddCommand(newDemoHookCmd(a))
	return cmd
}

func newDemoHookCmd(a *app) *cobra.Command {
	var dir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "hook COMMAND CLUSTER [ARG]",
		Short: "Drive the running demo's stand-in for a cluster's API servers (the legacy cluster's hooks)",
		Long: `hook talks to a demo started with --keep --dir DIR, over DIR/demo.sock. The demo runs no
Kubernetes API servers; it keeps, per cluster with hooks, whether its API servers run and on
which --storage-backend, and that is what the remediator's writer hooks change:

  stop_writers CLUSTER          the API servers stop writing
  start_writers CLUSTER         they start again, on their backend
  set_backend CLUSTER etcd2|etcd3
  verify CLUSTER                the probe: running API servers must find /registry in their
                                backend's store, and the kubelets must be Ready
  kubelets CLUSTER ready|notready
                                a fault for the walk-through: kubelets NotReady once the API
                                servers run on etcd3 (the upgrade tale's lesson), so verify fails
  status CLUSTER                what the stand-in holds

Exit codes: 0 done (verify: the probe passed), 1 refused or failed, with the reason.`,
		Example: `  etcdaudit demo hook --dir /tmp/demo status legacy
  etcdaudit demo hook --dir /tmp/demo kubelets legacy notready`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("--dir is required: the directory of a running 'etcdaudit demo --keep'")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			msg, err := demo.Hook(ctx, dir, args...)
			if err != nil {
				return &exitError{code: results.ExitTool, err: fmt.Errorf("demo hook %s: %w", args[0], err)}
			}
			fmt.Fprintf(a.stdout, "demo: %s\n", msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the running demo's directory (its --dir)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

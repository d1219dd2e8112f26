// Command etcdaudit audits fleets of etcd clusters: it collects facts from
// every member, judges them with Rego controls, reports, and (gated) fixes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI, cancelled by SIGINT or SIGTERM, and returns the
// process exit code; only main exits.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext is run under the caller's context (the demo runs other
// commands in-process with its own).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.err != nil {
			fmt.Fprintf(stderr, "etcdaudit: %v\n", ex.err)
		}
		return ex.code
	}
	fmt.Fprintf(stderr, "etcdaudit: %v\n", err)
	return 1
}

// exitError carries a non-default exit code (InSpec's: 100 failed, 101
// skipped under --strict) out of a command; err may be nil when the command
// already printed what happened.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// subcommands is filled by each command's file, so commands are added without
// touching this one.
var subcommands []func(*app) *cobra.Command

// app is what every command shares: the output streams and the logger.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	log            *slog.Logger
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "etcdaudit",
		Short: "Compliance and drift auditor for fleets of etcd clusters",
		Long: `etcdaudit collects facts from every member of every etcd cluster in a fleet
(versions, v2 data, Kubernetes storage backend, events leases, consistency, TLS),
judges them with Rego controls, reports the results, keeps a scan history and
shows what drifted since the last scan.

Exit codes: 0 nothing failed, 100 a control failed or errored,
101 something was skipped (with --strict), 1 etcdaudit itself could not run.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", a.logLevel, err)
			}
			a.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	for _, f := range subcommands {
		root.AddCommand(f(a))
	}
	return root
}

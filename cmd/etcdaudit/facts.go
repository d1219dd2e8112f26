package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/atomicfile"
)

func init() { subcommands = append(subcommands, newFactsCmd) }

// factsArgs are the facts command's flags, parsed and checked before any
// network call.
type factsArgs struct {
	output      string
	profile     string
	include     []string
	exclude     []string
	concurrency int
	timeout     time.Duration
	list        bool
	leaseWalk   bool
}

func (f factsArgs) validate() error {
	var errs []error
	if !collectors.ValidProfile(f.profile) {
		errs = append(errs, fmt.Errorf("--profile %q: want one of %s", f.profile, strings.Join(collectors.Profiles, ", ")))
	}
	if f.concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want at least 1", f.concurrency))
	}
	if f.timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want 0 (none) or more", f.timeout))
	}
	if _, _, err := collectors.NewRegistry().Select(f.profile, f.include, f.exclude); err != nil && f.profile != "" {
		errs = append(errs, fmt.Errorf("--collectors/--exclude: %w", err))
	}
	return errors.Join(errs...)
}

func newFactsCmd(a *app) *cobra.Command {
	var args factsArgs
	cmd := &cobra.Command{
		Use:   "facts (-f fleet.yaml | --endpoints URL,...) [-o facts.json]",
		Short: "Collect facts from every member of every cluster and write them as JSON",
		Long: `facts discovers every member of every cluster of the fleet and collects its facts:
versions, status, health (judged through the v3 API, never GET /health), alarms,
the v2 store, v3 key counts, the Kubernetes backend, TLS and auth posture, and per
cluster the member-list and leader agreement, raft index spread, HashKV at one
revision and the lease coverage of events keys.

It writes one JSON document (schema etcdaudit.facts/v1, see schema/facts.schema.json)
that "etcdaudit eval --facts" can judge later. Nothing is written to the fleet.
A collector that fails leaves its fact out and its error beside it; the run goes on.

Profiles: standard (default) collects every fact the bundled controls judge
except HashKV; full adds HashKV (every member reads its whole keyspace); quick
leaves out every walk (v2_count, event_leases, hashkv) for connectivity-only runs.
"--list-collectors" shows each collector's profile.`,
		Example: `  etcdaudit facts -f fleet.yaml -o facts.json
  etcdaudit facts -f fleet.yaml --profile full --concurrency 128 --timeout 10m
  etcdaudit facts -f fleet.yaml --profile quick
  etcdaudit facts --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert c.pem --key c-key.pem
  etcdaudit facts -f fleet.yaml --collectors version,v2,v3,backend
  etcdaudit facts -f fleet.yaml --profile full -x hashkv
  etcdaudit facts --list-collectors`,
		Args: cobra.NoArgs,
	}
	fleetFlags := addFleetFlags(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&args.output, "output", "o", "-", `where to write the facts JSON ("-" is stdout)`)
	fs.StringVar(&args.profile, "profile", collectors.ProfileDefault, profileHelp)
	fs.StringSliceVar(&args.include, "collectors", nil, `run only these collectors (comma-separated); "!name" excludes one`)
	fs.StringSliceVarP(&args.exclude, "exclude", "x", nil, "leave these collectors out (comma-separated)")
	fs.IntVar(&args.concurrency, "concurrency", collectors.DefaultConcurrency, "members collected at once across the fleet")
	fs.DurationVar(&args.timeout, "timeout", 0, "deadline for the whole run (0: none; each call still has the cluster's command timeout)")
	fs.BoolVar(&args.list, "list-collectors", false, "list the collectors and exit")
	fs.BoolVar(&args.leaseWalk, "lease-walk", false, "event_leases: always page through the events keys instead of joining leases first (slower; the join falls back to it by itself)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if args.list {
			return listCollectors(a.stdout)
		}
		if err := args.validate(); err != nil {
			return &exitError{code: 1, err: err}
		}
		fleet, err := fleetFlags.load()
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		opts := collectors.Options{
			Profile: args.profile, Include: args.include, Exclude: args.exclude,
			Concurrency: args.concurrency, Timeout: args.timeout, Logger: a.log, LeaseWalk: args.leaseWalk,
		}
		leanGC()
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			opts.Progress = a.stderr
		}
		facts, err := collectors.Run(cmd.Context(), fleet, opts)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if err := writeFacts(a.stdout, args.output, facts); err != nil {
			return &exitError{code: 1, err: err}
		}
		fmt.Fprintln(a.stderr, summarizeFacts(facts, args.output))
		if facts.Interrupted != "" {
			return &exitError{code: 1, err: fmt.Errorf("facts incomplete: %s", facts.Interrupted)}
		}
		return nil
	}
	return cmd
}

// profileHelp is the --profile flag's help, the same on every command.
const profileHelp = "standard (every fact the bundled controls judge except HashKV), full (adds HashKV: every member reads its whole keyspace) or quick (no walks: connectivity, versions, health)"

// leanGC halves the garbage collector's headroom (GOGC 50) unless the
// operator set GOGC: a facts run keeps little alive (counters and one page
// of keys at a time) but churns through pages, and it often runs on the
// etcd hosts themselves, where a flat, small RSS matters more than the few
// percent of CPU the collector spends.
func leanGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
}

func listCollectors(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPE\tPROFILE\tWHAT")
	for _, r := range collectors.NewRegistry().All() {
		var in []string
		for _, p := range collectors.Profiles {
			if r.Cost.InProfile(p) {
				in = append(in, p)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Scope, strings.Join(in, ","), r.Help)
	}
	return tw.Flush()
}

// writeFacts writes the document to stdout or, atomically, to a file: a
// reader (a nightly judge, a textfile collector) never sees half a file.
func writeFacts(stdout io.Writer, path string, f *collectors.Facts) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode facts: %w", err)
	}
	b = append(b, '\n')
	if path == "-" || path == "" {
		_, err := stdout.Write(b)
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// summarizeFacts is the one line on stderr after a run.
func summarizeFacts(f *collectors.Facts, output string) string {
	var members, reachable, errs, failedClusters int
	for _, c := range f.Clusters {
		errs += len(c.Errors)
		if c.DiscoveryErr != "" {
			failedClusters++
		}
		for _, m := range c.Members {
			members++
			if m.Reachable {
				reachable++
			}
			errs += len(m.Errors)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "facts: %d clusters (%d not discovered), %d members (%d reachable), %d collector errors, %s",
		len(f.Clusters), failedClusters, members, reachable, errs, f.FinishedAt.Sub(f.StartedAt).Round(time.Millisecond))
	if output != "-" && output != "" {
		fmt.Fprintf(&b, " -> %s", output)
	}
	return b.String()
}

package collectors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestRunnerOutcomes: each way a collector can end is recorded per subject,
// a failed fact stays nil with its error beside it, and a panic fails one
// collector, not the run.
func TestRunnerOutcomes(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	reg := &collectors.Registry{}
	must := func(r collectors.Registration) {
		if err := reg.Register(r); err != nil {
			t.Fatal(err)
		}
	}
	must(collectors.Registration{Name: "ok", Collector: collectors.CollectorFunc(func(ctx context.Context, tg *collectors.Target) error {
		tg.Member.Facts.Version = &collectors.VersionFacts{Server: "x"}
		return nil
	})})
	must(collectors.Registration{Name: "old", Collector: collectors.CollectorFunc(func(context.Context, *collectors.Target) error {
		return fmt.Errorf("AuthStatus: %w", collectors.ErrNotSupported)
	})})
	must(collectors.Registration{Name: "broken", Collector: collectors.CollectorFunc(func(context.Context, *collectors.Target) error {
		return errors.New("boom")
	})})
	must(collectors.Registration{Name: "panics", Collector: collectors.CollectorFunc(func(context.Context, *collectors.Target) error {
		var m map[string]int
		m["x"]++
		return nil
	})})
	must(collectors.Registration{Name: "slow", Collector: collectors.CollectorFunc(func(ctx context.Context, _ *collectors.Target) error {
		<-ctx.Done()
		return ctx.Err()
	})})
	must(collectors.Registration{Name: "cluster", Scope: collectors.ScopeCluster, Collector: collectors.CollectorFunc(func(_ context.Context, tg *collectors.Target) error {
		if len(tg.Cluster.Members) != 1 || tg.Cluster.Members[0].Facts.Version == nil {
			return errors.New("cluster collector did not see the member facts")
		}
		return nil
	})})
	fleet := fleetFor(t, "fake", c)
	fleet.Clusters[0].Collect.CommandTimeout = 300 * time.Millisecond
	f, err := collectors.Run(t.Context(), fleet, collectors.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	m := f.Clusters[0].Members[0]
	want := map[string]collectors.RunState{
		"ok": collectors.RunOK, "old": collectors.RunUnsupported, "broken": collectors.RunFailed,
		"panics": collectors.RunFailed, "slow": collectors.RunFailed,
	}
	for name, state := range want {
		if got := runState(m.Runs, name); got != state {
			t.Errorf("%s: %s, want %s", name, got, state)
		}
	}
	if runState(f.Clusters[0].Runs, "cluster") != collectors.RunOK {
		t.Errorf("cluster runs: %+v", f.Clusters[0].Runs)
	}
	errs := map[string]string{}
	for _, e := range m.Errors {
		errs[e.Collector] = e.Error
	}
	if len(errs) != 3 || errs["broken"] != "boom" || !strings.Contains(errs["panics"], "panicked") ||
		!strings.Contains(errs["slow"], "deadline") {
		t.Errorf("errors: %v", m.Errors)
	}
	if m.Version == nil || m.Status != nil {
		t.Errorf("facts: version %+v status %+v", m.Version, m.Status)
	}
}

// TestRunTimeoutAndIncludes: the whole-run deadline ends the run with what
// was gathered, and says so; a derived collector without its input is
// skipped when the input was left out, failed when it was asked for.
func TestRunTimeoutAndIncludes(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	fleet := fleetFor(t, "t", c)
	f := run(t, fleet, collectors.Options{Include: []string{"backend", "v3"}})
	m := f.Clusters[0].Members[0]
	if runState(m.Runs, "backend") != collectors.RunSkipped || m.Backend != nil || len(m.Errors) != 0 || m.V3 == nil {
		t.Errorf("backend without v2 selected: %+v %+v", m.Runs, m.Errors)
	}
	if f.Profile != "custom" || len(f.Collectors) != 2 {
		t.Errorf("profile %q collectors %v", f.Profile, f.Collectors)
	}

	f, err := collectors.Run(t.Context(), fleet, collectors.Options{Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Interrupted, "timeout") {
		t.Errorf("interrupted %q", f.Interrupted)
	}
	validate(t, f)
}

// TestLeaseJoinFallsBackOnWrites: on a cluster being written to, the lease
// join cannot prove it saw one revision, so coverage comes from the pinned
// walk, still exact for the events prefix.
func TestLeaseJoinFallsBackOnWrites(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	cli := c.Client(t)
	l := grant(t, cli, 3600)
	seedV3(t, cli, "/registry/events/l%03d", 30, clientv3.WithLease(l))
	seedV3(t, cli, "/registry/events/u%03d", 12)
	// A write lands between the join's two counts, every time: the join
	// cannot be exact and must give way to the pinned walk.
	writes := 0
	collectors.SetJoinAfterFirstCount(t, func(ctx context.Context) {
		writes++
		if _, err := cli.Put(ctx, "/registry/pods/busy", fmt.Sprint(writes)); err != nil {
			t.Errorf("busy write: %v", err)
		}
	})
	f := run(t, fleetFor(t, "busy", c), collectors.Options{Include: []string{"version", "event_leases"}})
	noErrors(t, f)
	if writes != 1 {
		t.Fatalf("the lease join ran %d times, want 1", writes)
	}
	el := f.Clusters[0].EventLeases
	if el == nil || el.Method != collectors.MethodKeysOnly || el.Keys != 42 || el.Leased != 30 || el.Unleased != 12 || el.Leases != 1 {
		t.Fatalf("coverage on a busy cluster: %+v", el)
	}
}

// TestStableOutput: two runs on an unchanged fleet differ only in
// timestamps and durations (and the read time of the health probe).
func TestStableOutput(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2())
	cli := c.Client(t)
	l := grant(t, cli, 3600)
	seedV3(t, cli, "/registry/events/l%02d", 5, clientv3.WithLease(l))
	seedV3(t, cli, "/registry/events/u%02d", 5)
	v2Put(t, c, "/registry/x", "v", false, 0)
	fleet := fleetFor(t, "stable", c)
	// Right after start the leader still proposes the cluster version: wait
	// for the raft log to be quiet, as an unchanged fleet is.
	settled(t, c)
	normalized := func() string {
		f := run(t, fleet, collectors.Options{Profile: collectors.ProfileFull})
		f.StartedAt, f.FinishedAt = time.Time{}, time.Time{}
		for ci := range f.Clusters {
			cf := &f.Clusters[ci]
			for i := range cf.Runs {
				cf.Runs[i].DurationMS = 0
			}
			for mi := range cf.Members {
				m := &cf.Members[mi]
				for i := range m.Runs {
					m.Runs[i].DurationMS = 0
				}
				if m.Health != nil {
					m.Health.ReadMS = 0
				}
			}
		}
		return dump(f)
	}
	a, b := normalized(), normalized()
	if a != b {
		t.Fatalf("two runs differ beyond timestamps:\n%s\n---\n%s", a, b)
	}
}

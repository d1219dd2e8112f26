package collectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/buildinfo"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// DefaultConcurrency bounds members collected at once (and clusters
// discovered at once). Each member costs one connection and a goroutine
// while it is collected, so 64 keeps a fleet of thousands of members cheap
// without letting one slow cluster hold up the rest.
const DefaultConcurrency = 64

// Options tune one run.
type Options struct {
	Profile          string   // quick | standard ("": ProfileDefault) | full
	Include, Exclude []string // collector names; "!name" in Include excludes
	Concurrency      int      // members (and clusters) at once; 0 means DefaultConcurrency
	// Timeout bounds the whole run; 0 means none beyond each call's own.
	Timeout time.Duration
	// Progress receives a progress line ("\r…") while the run goes on; the
	// CLI passes stderr only when it is a terminal.
	Progress io.Writer
	Logger   *slog.Logger
	// Registry overrides the built-in collectors (tests, embedders).
	Registry *Registry
	// LeaseWalk makes lease coverage always walk the events keys page by
	// page instead of trying the lease join first.
	LeaseWalk bool
}

// Run collects facts from every member of every cluster of the fleet. A
// member or collector that fails does not stop the run: its fact is nil and
// its error is kept beside it. Run returns an error only when it cannot
// start (no fleet, unknown collector or profile). When the run's timeout
// or ctx ends it, the facts gathered so far are returned and Interrupted
// says why.
func Run(ctx context.Context, fleet *inventory.Fleet, opts Options) (*Facts, error) {
	if fleet == nil {
		return nil, errors.New("collect facts: no fleet")
	}
	reg := opts.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	regs, label, err := reg.Select(opts.Profile, opts.Include, opts.Exclude)
	if err != nil {
		return nil, fmt.Errorf("collect facts: %w", err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	r := &runner{opts: opts, regs: regs, memberSem: make(chan struct{}, opts.Concurrency)}
	for _, g := range regs {
		r.names = append(r.names, g.Name)
	}
	f := &Facts{
		Schema:      FactsSchema,
		ToolVersion: buildinfo.String(),
		Inventory:   cmp.Or(fleet.Name, fleet.Source),
		Profile:     label,
		Collectors:  slices.Clone(r.names),
		StartedAt:   time.Now().UTC(),
		Clusters:    make([]ClusterFacts, len(fleet.Clusters)),
	}
	r.progress = newProgress(opts.Progress, len(fleet.Clusters))
	clusterSem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, c := range fleet.Clusters {
		wg.Go(func() {
			clusterSem <- struct{}{}
			defer func() { <-clusterSem }()
			f.Clusters[i] = r.cluster(runCtx, c)
			r.progress.clusterDone()
		})
	}
	wg.Wait()
	r.progress.stop()
	slices.SortStableFunc(f.Clusters, func(a, b ClusterFacts) int { return cmp.Compare(a.Name, b.Name) })
	f.FinishedAt = time.Now().UTC()
	switch {
	case ctx.Err() != nil:
		f.Interrupted = "interrupted: " + ctx.Err().Error()
	case runCtx.Err() != nil:
		f.Interrupted = fmt.Sprintf("run timeout %s exceeded: facts not gathered by then are missing", opts.Timeout)
	}
	return f, nil
}

type runner struct {
	opts      Options
	regs      []Registration
	names     []string
	memberSem chan struct{}
	progress  *progress
}

func (r *runner) selected(name string) bool { return slices.Contains(r.names, name) }

// cluster discovers one cluster, collects its members in parallel (bounded
// by the run-wide member semaphore), then runs the cluster collectors.
func (r *runner) cluster(ctx context.Context, spec inventory.Cluster) ClusterFacts {
	cf := ClusterFacts{
		Name:            spec.Name,
		Labels:          spec.Labels,
		DeclaredBackend: spec.KubernetesBackend,
		Endpoints:       nonNil(slices.Clone(spec.Endpoints)),
		Members:         []MemberFacts{},
	}
	conn, err := inventory.Connect(spec)
	if err != nil {
		cf.DiscoveryErr = err.Error()
		r.skipCluster(&cf, "cannot connect: "+err.Error())
		return cf
	}
	start := time.Now()
	// Discovery's connections (one gRPC client per member URL, the Conn's
	// kept-alive HTTP connections) serve the collectors too: no member is
	// dialled twice in a run.
	d, clients := inventory.DiscoverWithClients(ctx, spec, conn)
	defer clients.Close()
	// Discovery is recorded like a collector so its cost shows in runs.
	disc := CollectorRun{Collector: "discovery", State: RunOK, DurationMS: ms(time.Since(start))}
	if d.Error != "" {
		cf.DiscoveryErr = d.Error
		disc.State, disc.Detail = RunFailed, d.Error
		cf.Runs = append(cf.Runs, disc)
		r.skipCluster(&cf, "discovery failed")
		return cf
	}
	cf.Runs = append(cf.Runs, disc)
	for _, dm := range d.Members {
		endpoint := dm.Endpoint
		if endpoint == "" && len(dm.ClientURLs) > 0 {
			endpoint = dm.ClientURLs[0]
		}
		cf.Members = append(cf.Members, MemberFacts{
			Name: dm.Name, ID: dm.IDHex, Endpoint: endpoint,
			ClientURLs: nonNil(slices.Clone(dm.ClientURLs)), PeerURLs: nonNil(slices.Clone(dm.PeerURLs)),
			IsLearner: dm.IsLearner, Started: dm.Started,
			Reachable: dm.Reachable, UnreachableReason: dm.Reason,
		})
	}
	slices.SortStableFunc(cf.Members, func(a, b MemberFacts) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	r.progress.addMembers(len(cf.Members))

	hc := conn.HTTPClient()
	defer hc.CloseIdleConnections()
	ct := &ClusterTarget{Spec: spec, Conn: conn, Facts: &cf, leaseWalk: r.opts.LeaseWalk, discovered: clients}
	byID := map[string]inventory.Member{}
	for _, dm := range d.Members {
		byID[dm.IDHex+"|"+dm.Name] = dm
	}
	for i := range cf.Members {
		mf := &cf.Members[i]
		ct.Members = append(ct.Members, &MemberTarget{
			Facts: mf, Endpoint: mf.Endpoint, HTTP: hc, Conn: conn, Timeout: conn.CommandTimeout,
			Discovered: byID[mf.ID+"|"+mf.Name],
		})
	}
	defer func() {
		for _, m := range ct.Members {
			if m.Client != nil {
				m.Client.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	for _, m := range ct.Members {
		wg.Go(func() {
			r.memberSem <- struct{}{}
			defer func() { <-r.memberSem }()
			r.member(ctx, ct, m)
			r.progress.memberDone()
		})
	}
	wg.Wait()

	defer ct.closeClient()
	for _, reg := range r.regs {
		if reg.Scope != ScopeCluster {
			continue
		}
		t := &Target{Cluster: ct, Selected: r.selected}
		run, fe := r.runOne(ctx, reg, t, timeoutFor(reg, conn))
		cf.Runs = append(cf.Runs, run)
		if fe != nil {
			cf.Errors = append(cf.Errors, *fe)
		}
	}
	return cf
}

// skipCluster records every collector as skipped when no member could be
// asked; the discovery error is the fact that explains it.
func (r *runner) skipCluster(cf *ClusterFacts, why string) {
	cf.Errors = append(cf.Errors, FactError{Collector: "discovery", Error: cf.DiscoveryErr})
	for _, reg := range r.regs {
		if reg.Scope == ScopeCluster {
			cf.Runs = append(cf.Runs, CollectorRun{Collector: reg.Name, State: RunSkipped, Detail: why})
		}
	}
}

// member runs the member collectors one after another on one member, so
// derived collectors (health, backend) see the facts made before them.
func (r *runner) member(ctx context.Context, ct *ClusterTarget, m *MemberTarget) {
	mf := m.Facts
	skipAll := func(why string) {
		for _, reg := range r.regs {
			if reg.Scope == ScopeMember {
				mf.Runs = append(mf.Runs, CollectorRun{Collector: reg.Name, State: RunSkipped, Detail: why})
			}
		}
	}
	switch {
	case !mf.Started:
		skipAll("member not started")
		return
	case !mf.Reachable:
		skipAll("member unreachable")
		return
	}
	cli, err := ct.memberClient(ctx, m)
	if err != nil {
		why := fmt.Sprintf("connect to %s: %v", m.Endpoint, rpcError(ctx, err))
		for _, reg := range r.regs {
			if reg.Scope == ScopeMember {
				mf.Runs = append(mf.Runs, CollectorRun{Collector: reg.Name, State: RunFailed, Detail: why})
				mf.Errors = append(mf.Errors, FactError{Collector: reg.Name, Error: why})
			}
		}
		return
	}
	m.Client = cli
	m.reuseDiscovery(time.Now())
	for _, reg := range r.regs {
		if reg.Scope != ScopeMember {
			continue
		}
		t := &Target{Cluster: ct, Member: m, Selected: r.selected}
		run, fe := r.runOne(ctx, reg, t, timeoutFor(reg, m.Conn))
		mf.Runs = append(mf.Runs, run)
		if fe != nil {
			mf.Errors = append(mf.Errors, *fe)
		}
	}
}

// maxAnswerAge bounds how old discovery's answer (Status, MemberList) may
// be for the member's collectors to use it instead of asking again: on a
// healthy cluster discovery hands over within milliseconds, well under
// etcd's default 1 s election timeout, so the answer describes the moment a
// fresh one would. When discovery waited on a hung member, the answers of
// the others are older than this and the collectors ask again (a member
// that lost its leader meanwhile says so).
const maxAnswerAge = 250 * time.Millisecond

// reuseDiscovery takes discovery's answers for this member when they were
// read on the same endpoint a moment ago: one Status and one MemberList
// fewer per member.
func (m *MemberTarget) reuseDiscovery(now time.Time) {
	a := m.Discovered.Answers
	if !m.Discovered.Reachable || m.Discovered.Endpoint != m.Endpoint {
		return
	}
	if a.Status != nil && now.Sub(a.StatusAt) < maxAnswerAge {
		m.status = a.Status
	}
	if a.MemberList != nil && now.Sub(a.MemberListAt) < maxAnswerAge {
		m.memberList = a.MemberList
	}
}

// memberClient is the client discovery connected to the member's endpoint,
// or a new one when discovery has none for it.
func (ct *ClusterTarget) memberClient(ctx context.Context, m *MemberTarget) (*clientv3.Client, error) {
	if cli := ct.discovered.Take(m.Endpoint); cli != nil {
		return cli, nil
	}
	cfg := m.Conn.ClientConfig([]string{m.Endpoint})
	cfg.Context = ctx
	return clientv3.New(cfg)
}

func timeoutFor(reg Registration, conn *inventory.Conn) time.Duration {
	if reg.Cost > CostRequests {
		return conn.KeyspaceTimeout
	}
	return conn.CommandTimeout
}

// runOne runs one collector with its deadline and turns the outcome into a
// run record and, on failure, the error kept beside the missing fact. A
// panicking collector fails alone instead of taking the run down.
func (r *runner) runOne(ctx context.Context, reg Registration, t *Target, timeout time.Duration) (CollectorRun, *FactError) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err := safeCollect(cctx, reg.Collector, t)
	cancel()
	run := CollectorRun{Collector: reg.Name, State: RunOK, DurationMS: ms(time.Since(start))}
	var skip *skipError
	switch {
	case err == nil:
		return run, nil
	case errors.As(err, &skip):
		run.State, run.Detail = RunSkipped, skip.reason
		return run, nil
	case errors.Is(err, ErrNotSupported):
		run.State, run.Detail = RunUnsupported, err.Error()
		return run, nil
	}
	run.State, run.Detail = RunFailed, err.Error()
	subject := t.Cluster.Spec.Name
	if t.Member != nil {
		subject += "/" + subjectName(t.Member.Facts)
	}
	r.opts.Logger.Debug("collector failed", "collector", reg.Name, "subject", subject, "err", err)
	return run, &FactError{Collector: reg.Name, Error: err.Error()}
}

func safeCollect(ctx context.Context, c Collector, t *Target) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("collector panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return c.Collect(ctx, t)
}

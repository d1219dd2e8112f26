package collectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/inventory"
)

// ErrNotSupported is returned (wrapped) by a collector when the member's
// server has no such API, e.g. AuthStatus on 3.4. The runner records it as
// RunUnsupported instead of a failure, so policies can tell "this etcd cannot
// say" from "we could not ask".
var ErrNotSupported = errors.New("not supported by this server")

// Scope says whether a collector runs once per member or once per cluster.
type Scope int

const (
	// ScopeMember collectors run once per reachable member, against a
	// client connected to that member only.
	ScopeMember Scope = iota
	// ScopeCluster collectors run once per cluster after every member
	// collector has finished, so they can compare members.
	ScopeCluster
)

func (s Scope) String() string {
	if s == ScopeCluster {
		return "cluster"
	}
	return "member"
}

// Collector gathers one fact about one subject. It sets its fact on the
// target only when it succeeds, so a failure leaves the fact nil and never
// a misleading zero. It returns errors instead of logging them: the runner
// keeps them beside the missing fact.
type Collector interface {
	Collect(ctx context.Context, t *Target) error
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(ctx context.Context, t *Target) error

// Collect calls f.
func (f CollectorFunc) Collect(ctx context.Context, t *Target) error { return f(ctx, t) }

// Registration describes one collector to the registry.
type Registration struct {
	Name  string
	Scope Scope
	// Cost decides which profiles run the collector (see Profiles) and its
	// deadline: collectors above CostRequests get the cluster's keyspace
	// timeout instead of the command timeout.
	Cost Cost
	Help string
	// Needs names collectors whose facts this one derives from; when one of
	// them is not selected, this collector is recorded as skipped.
	Needs     []string
	Collector Collector
}

// Registry is an ordered set of collectors. Order matters: member collectors
// run in registry order on each member, so derived facts (backend, health)
// come after the facts they read. It is a value built by NewRegistry, not a
// package-global map, so tests and embedders can build their own.
type Registry struct {
	regs []Registration
}

// Register adds a collector; a duplicate or empty name is an error.
func (r *Registry) Register(reg Registration) error {
	if reg.Name == "" || reg.Collector == nil {
		return errors.New("register collector: name and collector are required")
	}
	if _, ok := r.Lookup(reg.Name); ok {
		return fmt.Errorf("register collector %q: already registered", reg.Name)
	}
	r.regs = append(r.regs, reg)
	return nil
}

// Lookup finds a collector by name.
func (r *Registry) Lookup(name string) (Registration, bool) {
	for _, reg := range r.regs {
		if reg.Name == name {
			return reg, true
		}
	}
	return Registration{}, false
}

// All returns the registrations in order.
func (r *Registry) All() []Registration { return slices.Clone(r.regs) }

// Names returns every registered name in order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.regs))
	for i, reg := range r.regs {
		names[i] = reg.Name
	}
	return names
}

// NewRegistry returns a fresh registry holding every built-in collector.
func NewRegistry() *Registry {
	r := &Registry{}
	for _, reg := range builtins() {
		if err := r.Register(reg); err != nil {
			// builtins() is a fixed list; a duplicate there is a programming
			// error caught by TestRegistry.
			panic(err)
		}
	}
	return r
}

// builtins lists the built-in collectors in the order they run.
func builtins() []Registration {
	return []Registration{
		versionCollector(),
		statusCollector(),
		alarmsCollector(),
		healthCollector(),
		memberListCollector(),
		v2Collector(),
		v2CountCollector(),
		v3Collector(),
		backendCollector(),
		securityCollector(),
		consistencyCollector(),
		hashKVCollector(),
		leaseCoverageCollector(),
	}
}

// Cost is what a collector asks of the member it reads, in the order the
// profiles admit them.
type Cost int

const (
	// CostRequests: a few small requests whose answers do not grow with the
	// data (status, version, counts the server computes itself).
	CostRequests Cost = iota
	// CostPrefixWalk: reads one part of the data, in proportion to its
	// size: the v2 store, the events prefix and its leases.
	CostPrefixWalk
	// CostKeyspace: makes every member read its whole keyspace (HashKV).
	CostKeyspace
)

func (c Cost) String() string {
	switch c {
	case CostRequests:
		return "requests"
	case CostPrefixWalk:
		return "prefix-walk"
	case CostKeyspace:
		return "keyspace"
	}
	return fmt.Sprintf("cost(%d)", int(c))
}

// Profiles name how much a run may cost. Each runs the collectors whose
// Cost is at most the profile's.
const (
	// ProfileQuick runs only CostRequests collectors: connectivity, versions
	// and health, cheap enough for every few minutes. The facts judging v2
	// data and events leases are not collected.
	ProfileQuick = "quick"
	// ProfileStandard adds the prefix walks: every fact the bundled controls
	// judge except HashKV. It is the default.
	ProfileStandard = "standard"
	// ProfileFull runs everything, HashKV included.
	ProfileFull = "full"
	// ProfileDefault is the profile of a run that names none.
	ProfileDefault = ProfileStandard
)

// Profiles lists the profile names from cheapest to dearest.
var Profiles = []string{ProfileQuick, ProfileStandard, ProfileFull}

// profileCost is the dearest Cost each profile runs.
var profileCost = map[string]Cost{ProfileQuick: CostRequests, ProfileStandard: CostPrefixWalk, ProfileFull: CostKeyspace}

// ValidProfile reports whether name is a profile ("" is the default).
func ValidProfile(name string) bool {
	_, ok := profileCost[name]
	return ok || name == ""
}

// InProfile reports whether profile ("" for the default) runs collectors of
// cost c; an unknown profile runs nothing.
func (c Cost) InProfile(profile string) bool {
	if profile == "" {
		profile = ProfileDefault
	}
	max, ok := profileCost[profile]
	return ok && c <= max
}

// ProfileFor names the cheapest profile that runs the named collector, and
// "" when the registry has no such collector.
func (r *Registry) ProfileFor(name string) string {
	reg, ok := r.Lookup(name)
	if !ok {
		return ""
	}
	for _, p := range Profiles {
		if reg.Cost.InProfile(p) {
			return p
		}
	}
	return ProfileFull
}

// Select resolves a profile and the --collectors/--exclude lists to the
// registrations to run, in registry order. include entries may be "!name"
// (or "-name") to exclude. An explicit include overrides the profile. An
// unknown name is an error naming the known ones.
func (r *Registry) Select(profile string, include, exclude []string) ([]Registration, string, error) {
	var excl []string
	var incl []string
	for _, n := range include {
		for _, part := range strings.Split(n, ",") {
			part = strings.TrimSpace(part)
			switch {
			case part == "":
			case strings.HasPrefix(part, "!") || strings.HasPrefix(part, "-"):
				excl = append(excl, part[1:])
			default:
				incl = append(incl, part)
			}
		}
	}
	for _, n := range exclude {
		for _, part := range strings.Split(n, ",") {
			if part = strings.TrimSpace(part); part != "" {
				excl = append(excl, part)
			}
		}
	}
	var unknown []string
	for _, n := range append(slices.Clone(incl), excl...) {
		if _, ok := r.Lookup(n); !ok {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return nil, "", fmt.Errorf("unknown collector %s (known: %s)", strings.Join(unknown, ", "), strings.Join(r.Names(), ", "))
	}
	if !ValidProfile(profile) {
		return nil, "", fmt.Errorf("unknown profile %q (known: %s)", profile, strings.Join(Profiles, ", "))
	}
	if profile == "" {
		profile = ProfileDefault
	}
	label := profile
	var out []Registration
	for _, reg := range r.regs {
		want := reg.Cost.InProfile(profile)
		if len(incl) > 0 {
			want = slices.Contains(incl, reg.Name)
		}
		if slices.Contains(excl, reg.Name) {
			want = false
		}
		if want {
			out = append(out, reg)
		}
	}
	if len(incl) > 0 || len(excl) > 0 {
		label = "custom"
	}
	return out, label, nil
}

// Target is what a collector works on: always a cluster, and for member
// collectors one member of it.
type Target struct {
	Cluster *ClusterTarget
	// Member is nil for cluster-scoped collectors.
	Member *MemberTarget
	// Selected reports whether a collector is part of this run, so derived
	// collectors can tell "not asked for" from "failed".
	Selected func(name string) bool
}

// ClusterTarget is one cluster being collected.
type ClusterTarget struct {
	Spec      inventory.Cluster
	Conn      *inventory.Conn
	Facts     *ClusterFacts
	Members   []*MemberTarget
	leaseWalk bool // Options.LeaseWalk
	// discovered holds the clients discovery opened, taken by the members.
	discovered *inventory.Clients

	clientOnce sync.Once
	client     *clientv3.Client
	clientErr  error
}

// Client returns a client that reaches every reachable member, dialled on
// first use: the quick profile's cluster collectors derive from member facts
// and never need one.
func (c *ClusterTarget) Client(ctx context.Context) (*clientv3.Client, error) {
	c.clientOnce.Do(func() {
		var eps []string
		for _, m := range c.Members {
			if m.Client != nil {
				eps = append(eps, m.Endpoint)
			}
		}
		if len(eps) == 0 {
			c.clientErr = skipf("no reachable member")
			return
		}
		cfg := c.Conn.ClientConfig(eps)
		cfg.Context = ctx
		if c.client, c.clientErr = clientv3.New(cfg); c.clientErr != nil {
			c.clientErr = fmt.Errorf("cluster client: %w", c.clientErr)
		}
	})
	return c.client, c.clientErr
}

func (c *ClusterTarget) closeClient() {
	if c.client != nil {
		c.client.Close()
	}
}

// MemberTarget is one member being collected.
type MemberTarget struct {
	Facts *MemberFacts
	// Endpoint is the client URL used for this member.
	Endpoint string
	// Client is connected to this member only.
	Client *clientv3.Client
	HTTP   *http.Client
	Conn   *inventory.Conn
	// Timeout is the per-call deadline (the cluster's command timeout).
	Timeout time.Duration
	// Discovered is what discovery learned about the member (its versions
	// among them), so collectors need not ask again.
	Discovered inventory.Member

	// status caches the first successful Maintenance.Status answer: member
	// collectors run one after another, so no lock is needed.
	status *pb.StatusResponse
	// memberList is discovery's MemberList answer from this member, when
	// fresh (see reuseDiscovery); collectMemberList asks otherwise.
	memberList *pb.MemberListResponse
}

func (c *ClusterTarget) registryPrefix() string {
	return cmp.Or(c.Spec.Collect.RegistryPrefix, inventory.DefaultRegistryPrefix)
}

func (c *ClusterTarget) eventsPrefix() string {
	return cmp.Or(c.Spec.Collect.EventsPrefix, inventory.DefaultEventsPrefix)
}

func (c *ClusterTarget) pageSize() int64 {
	if c.Spec.Collect.PageSize > 0 {
		return c.Spec.Collect.PageSize
	}
	return inventory.DefaultPageSize
}

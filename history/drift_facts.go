package history

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/internal/units"
)

// FactKind names a fact change.
type FactKind string

const (
	ClusterAdded          FactKind = "cluster_added"
	ClusterRemoved        FactKind = "cluster_removed"
	DiscoveryFailed       FactKind = "discovery_failed" // worse
	DiscoveryRecovered    FactKind = "discovery_recovered"
	MemberAdded           FactKind = "member_added"
	MemberRemoved         FactKind = "member_removed" // worse: less fault tolerance
	MemberUnreachable     FactKind = "member_unreachable"
	MemberReachable       FactKind = "member_reachable"
	MemberUpgraded        FactKind = "member_upgraded"
	MemberDowngraded      FactKind = "member_downgraded" // worse: rarely planned
	ClusterVersionChanged FactKind = "cluster_version_changed"
	LearnerChanged        FactKind = "learner_changed"
	V2KeysAppeared        FactKind = "v2_keys_appeared" // worse: blocks 3.6
	V2KeysVanished        FactKind = "v2_keys_vanished"
	V2KeysChanged         FactKind = "v2_keys_changed" // worse when more
	V2APIEnabled          FactKind = "v2_api_enabled"  // worse
	V2APIDisabled         FactKind = "v2_api_disabled"
	BackendChanged        FactKind = "backend_changed"
	LeaseCoverageDropped  FactKind = "lease_coverage_dropped" // worse
	LeaseCoverageRose     FactKind = "lease_coverage_rose"
	DBSizeGrew            FactKind = "db_size_grew" // worse
	AlarmRaised           FactKind = "alarm_raised" // worse
	AlarmCleared          FactKind = "alarm_cleared"
	CertExpiring          FactKind = "cert_expiring" // worse
	CertRenewed           FactKind = "cert_renewed"
	TLSDisabled           FactKind = "tls_disabled" // worse
	TLSEnabled            FactKind = "tls_enabled"
	AuthDisabled          FactKind = "auth_disabled" // worse
	AuthEnabled           FactKind = "auth_enabled"
	ClientCertNotRequired FactKind = "client_cert_not_required" // worse
	ClientCertNowRequired FactKind = "client_cert_required"
)

// FactChange is one fact that moved between two scans. Cluster-wide facts
// (v2 keys, backend, lease coverage, alarms) are reported once per cluster,
// not once per member that saw them.
type FactChange struct {
	Kind    FactKind `json:"kind"`
	Cluster string   `json:"cluster"`
	Member  string   `json:"member,omitempty"`
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	Worse   bool     `json:"worse"`
	Message string   `json:"message"`
	// Remediation names the runs that explain the change (AttachRemediation).
	Remediation []RemediationRef `json:"remediation,omitempty"`
}

// scanTimes holds when each side's facts were collected: certificate
// expiry is measured at each scan's own time, so a certificate crossing the
// warning threshold is reported by exactly one drift.
type scanTimes struct{ from, to time.Time }

func diffFacts(from, to *collectors.Facts, at scanTimes, o DriftOptions) []FactChange {
	var out []FactChange
	old := map[string]*collectors.ClusterFacts{}
	for i := range from.Clusters {
		old[from.Clusters[i].Name] = &from.Clusters[i]
	}
	seen := map[string]bool{}
	for i := range to.Clusters {
		c := &to.Clusters[i]
		seen[c.Name] = true
		p, ok := old[c.Name]
		if !ok {
			out = append(out, FactChange{Kind: ClusterAdded, Cluster: c.Name,
				Message: fmt.Sprintf("cluster %s is new in the inventory (%d members)", c.Name, len(c.Members))})
			continue
		}
		out = append(out, diffCluster(p, c, at, o)...)
	}
	for _, c := range from.Clusters {
		if !seen[c.Name] {
			out = append(out, FactChange{Kind: ClusterRemoved, Cluster: c.Name,
				Message: fmt.Sprintf("cluster %s is no longer in the inventory", c.Name)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		return a.Kind < b.Kind
	})
	return out
}

func diffCluster(p, c *collectors.ClusterFacts, at scanTimes, o DriftOptions) []FactChange {
	var out []FactChange
	add := func(f FactChange) { f.Cluster = c.Name; out = append(out, f) }
	switch {
	case p.DiscoveryErr == "" && c.DiscoveryErr != "":
		add(FactChange{Kind: DiscoveryFailed, To: c.DiscoveryErr, Worse: true,
			Message: "member discovery failed: " + c.DiscoveryErr})
	case p.DiscoveryErr != "" && c.DiscoveryErr == "":
		add(FactChange{Kind: DiscoveryRecovered, From: p.DiscoveryErr, Message: "member discovery works again"})
	}

	pairs, added, removed := pairMembers(p.Members, c.Members)
	for _, m := range added {
		add(FactChange{Kind: MemberAdded, Member: m.Label(), To: m.Endpoint,
			Message: fmt.Sprintf("member %s (%s) joined", m.Label(), m.Endpoint)})
	}
	for _, m := range removed {
		add(FactChange{Kind: MemberRemoved, Member: m.Label(), From: m.Endpoint, Worse: true,
			Message: fmt.Sprintf("member %s (%s) is gone", m.Label(), m.Endpoint)})
	}
	for _, pr := range pairs {
		for _, f := range diffMember(pr[0], pr[1], at, o) {
			add(f)
		}
	}

	// Cluster-wide facts: every member reports the same replicated data.
	if a, b := clusterVersion(p), clusterVersion(c); a != "" && b != "" && a != b {
		add(FactChange{Kind: ClusterVersionChanged, From: a, To: b,
			Message: fmt.Sprintf("cluster version %s → %s", a, b)})
	}
	out = append(out, withCluster(c.Name, diffV2(v2Of(p), v2Of(c)))...)
	if a, b := backendOf(p), backendOf(c); a != "" && b != "" && a != b {
		worse := b == collectors.BackendEtcd2 || b == collectors.BackendMixed ||
			(b == collectors.BackendNone && a != collectors.BackendNone)
		add(FactChange{Kind: BackendChanged, From: a, To: b, Worse: worse,
			Message: fmt.Sprintf("Kubernetes data backend %s → %s", a, b)})
	}
	if a, b := p.EventLeases, c.EventLeases; a != nil && b != nil && (a.Keys > 0 || b.Keys > 0) {
		delta := b.Ratio - a.Ratio
		msg := fmt.Sprintf("events lease coverage %s → %s (%d of %d keys leased)", pct(a.Ratio), pct(b.Ratio), b.Leased, b.Keys)
		switch {
		case delta <= -o.LeaseCoverageDelta:
			add(FactChange{Kind: LeaseCoverageDropped, From: pct(a.Ratio), To: pct(b.Ratio), Worse: true, Message: msg})
		case delta >= o.LeaseCoverageDelta:
			add(FactChange{Kind: LeaseCoverageRose, From: pct(a.Ratio), To: pct(b.Ratio), Message: msg})
		}
	}
	pa, ca := alarmsOf(p), alarmsOf(c)
	for _, a := range sortedKeys(ca) {
		if !pa[a] {
			add(FactChange{Kind: AlarmRaised, To: a, Worse: true, Message: "alarm raised: " + a})
		}
	}
	for _, a := range sortedKeys(pa) {
		if !ca[a] {
			add(FactChange{Kind: AlarmCleared, From: a, Message: "alarm cleared: " + a})
		}
	}
	return out
}

func withCluster(name string, fs []FactChange) []FactChange {
	for i := range fs {
		fs[i].Cluster = name
	}
	return fs
}

func diffMember(p, c *collectors.MemberFacts, at scanTimes, o DriftOptions) []FactChange {
	name := c.Label()
	var out []FactChange
	add := func(f FactChange) { f.Member = name; out = append(out, f) }
	switch {
	case p.Reachable && !c.Reachable:
		add(FactChange{Kind: MemberUnreachable, To: c.UnreachableReason, Worse: true,
			Message: "member unreachable: " + orNone(c.UnreachableReason)})
		return out // the rest of its facts are unknown, not changed
	case !p.Reachable && c.Reachable:
		add(FactChange{Kind: MemberReachable, From: p.UnreachableReason, Message: "member reachable again"})
		return out // nothing known from the older scan to compare with
	case !c.Reachable:
		return out
	}
	if p.Version != nil && c.Version != nil && p.Version.Server != "" && c.Version.Server != "" &&
		p.Version.Server != c.Version.Server {
		k, worse, verb := MemberUpgraded, false, "upgraded"
		if etcdversion.Compare(c.Version.Server, p.Version.Server) < 0 {
			k, worse, verb = MemberDowngraded, true, "downgraded"
		}
		add(FactChange{Kind: k, From: p.Version.Server, To: c.Version.Server, Worse: worse,
			Message: fmt.Sprintf("%s %s → %s", verb, p.Version.Server, c.Version.Server)})
	}
	if p.Status != nil && c.Status != nil {
		if p.Status.IsLearner != c.Status.IsLearner {
			what := "promoted to voting member"
			if c.Status.IsLearner {
				what = "is now a learner"
			}
			add(FactChange{Kind: LearnerChanged, From: strconv.FormatBool(p.Status.IsLearner),
				To: strconv.FormatBool(c.Status.IsLearner), Message: what})
		}
		a, b := p.Status.DBSize, c.Status.DBSize
		if a > 0 && b-a >= o.DBGrowthMinBytes && float64(b-a)/float64(a) >= o.DBGrowthRatio {
			add(FactChange{Kind: DBSizeGrew, From: units.Bytes(a), To: units.Bytes(b), Worse: true,
				Message: fmt.Sprintf("db size grew %s → %s (+%.0f%%)", units.Bytes(a), units.Bytes(b), 100*float64(b-a)/float64(a))})
		}
	}
	if p.Security != nil && c.Security != nil {
		out = append(out, diffSecurity(name, p.Security, c.Security, at, o)...)
	}
	return out
}

func diffSecurity(name string, p, c *collectors.SecurityFacts, at scanTimes, o DriftOptions) []FactChange {
	var out []FactChange
	add := func(f FactChange) { f.Member = name; out = append(out, f) }
	if p.Scheme != "" && c.Scheme != "" && p.Scheme != c.Scheme {
		if c.Scheme == "http" {
			add(FactChange{Kind: TLSDisabled, From: p.Scheme, To: c.Scheme, Worse: true, Message: "client traffic no longer uses TLS"})
		} else {
			add(FactChange{Kind: TLSEnabled, From: p.Scheme, To: c.Scheme, Message: "client traffic now uses TLS"})
		}
	}
	if p.AuthEnabled != nil && c.AuthEnabled != nil && *p.AuthEnabled != *c.AuthEnabled {
		if *c.AuthEnabled {
			add(FactChange{Kind: AuthEnabled, From: "off", To: "on", Message: "etcd authentication enabled"})
		} else {
			add(FactChange{Kind: AuthDisabled, From: "on", To: "off", Worse: true, Message: "etcd authentication disabled"})
		}
	}
	if p.ClientCertRequired != nil && c.ClientCertRequired != nil && *p.ClientCertRequired != *c.ClientCertRequired {
		if *c.ClientCertRequired {
			add(FactChange{Kind: ClientCertNowRequired, From: "no", To: "yes", Message: "client certificates now required"})
		} else {
			add(FactChange{Kind: ClientCertNotRequired, From: "yes", To: "no", Worse: true, Message: "client certificates no longer required"})
		}
	}
	pd, pok := daysLeft(p, at.from)
	cd, cok := daysLeft(c, at.to)
	if cok && cd < o.CertWarnDays && (!pok || pd >= o.CertWarnDays || certChanged(p, c)) {
		add(FactChange{Kind: CertExpiring, To: c.CertNotAfter.UTC().Format(time.RFC3339), Worse: true,
			Message: fmt.Sprintf("serving certificate expires in %.0f days (%s)", cd, c.CertNotAfter.UTC().Format("2006-01-02"))})
	} else if pok && cok && c.CertNotAfter.After(*p.CertNotAfter) {
		add(FactChange{Kind: CertRenewed, From: p.CertNotAfter.UTC().Format("2006-01-02"), To: c.CertNotAfter.UTC().Format("2006-01-02"),
			Message: fmt.Sprintf("serving certificate renewed, now valid until %s", c.CertNotAfter.UTC().Format("2006-01-02"))})
	}
	return out
}

func daysLeft(s *collectors.SecurityFacts, at time.Time) (float64, bool) {
	if s.CertNotAfter == nil {
		return 0, false
	}
	return s.CertNotAfter.Sub(at).Hours() / 24, true
}

func certChanged(p, c *collectors.SecurityFacts) bool {
	return p.CertNotAfter != nil && c.CertNotAfter != nil && !p.CertNotAfter.Equal(*c.CertNotAfter)
}

// pairMembers matches members across scans by ID, then name, then
// endpoint, so a member that went down (and lost its name in the facts) is
// still the same member.
func pairMembers(from, to []collectors.MemberFacts) (pairs [][2]*collectors.MemberFacts, added, removed []*collectors.MemberFacts) {
	used := make([]bool, len(from))
	find := func(match func(*collectors.MemberFacts) bool) int {
		for i := range from {
			if !used[i] && match(&from[i]) {
				return i
			}
		}
		return -1
	}
	var pending []*collectors.MemberFacts
	for i := range to {
		m := &to[i]
		j := -1
		if m.ID != "" {
			j = find(func(o *collectors.MemberFacts) bool { return o.ID == m.ID })
		}
		if j < 0 && m.Name != "" {
			j = find(func(o *collectors.MemberFacts) bool { return o.Name == m.Name })
		}
		if j < 0 {
			pending = append(pending, m)
			continue
		}
		used[j] = true
		pairs = append(pairs, [2]*collectors.MemberFacts{&from[j], m})
	}
	for _, m := range pending { // endpoint last: a replaced member may reuse one
		j := -1
		if m.Endpoint != "" {
			j = find(func(o *collectors.MemberFacts) bool { return o.Endpoint == m.Endpoint })
		}
		if j < 0 {
			added = append(added, m)
			continue
		}
		used[j] = true
		pairs = append(pairs, [2]*collectors.MemberFacts{&from[j], m})
	}
	for i := range from {
		if !used[i] {
			removed = append(removed, &from[i])
		}
	}
	return pairs, added, removed
}

func clusterVersion(c *collectors.ClusterFacts) string {
	for _, m := range c.Members {
		if m.Reachable && m.Version != nil && m.Version.Cluster != "" {
			return m.Version.Cluster
		}
	}
	return ""
}

// v2State is the cluster's v2 store as the reachable members saw it.
type v2State struct {
	known   bool // some reachable member answered about v2
	enabled bool
	counted bool // keys is a real count
	keys    int64
}

func v2Of(c *collectors.ClusterFacts) v2State {
	var s v2State
	for _, m := range c.Members {
		if !m.Reachable || m.V2 == nil {
			continue
		}
		s.known = true
		if !m.V2.Enabled {
			continue
		}
		s.enabled = true
		if m.V2.Counted {
			s.counted = true
			s.keys = max(s.keys, m.V2.Keys)
		}
	}
	return s
}

func diffV2(p, c v2State) []FactChange {
	if !p.known || !c.known {
		return nil
	}
	var out []FactChange
	switch {
	case !p.enabled && c.enabled:
		out = append(out, FactChange{Kind: V2APIEnabled, From: "off", To: "on", Worse: true, Message: "the v2 API is enabled"})
	case p.enabled && !c.enabled:
		out = append(out, FactChange{Kind: V2APIDisabled, From: "on", To: "off", Message: "the v2 API is no longer served"})
	}
	// A disabled API shows no keys: count it as zero visible keys, but
	// only compare when both sides are a real count or a known zero.
	pk, pok := p.keys, p.counted || !p.enabled
	ck, cok := c.keys, c.counted || !c.enabled
	if !pok || !cok || pk == ck {
		return out
	}
	f := FactChange{From: strconv.FormatInt(pk, 10), To: strconv.FormatInt(ck, 10)}
	switch {
	case pk == 0:
		f.Kind, f.Worse = V2KeysAppeared, true
		f.Message = fmt.Sprintf("%d v2 keys appeared (they block the upgrade to 3.6)", ck)
	case ck == 0:
		f.Kind = V2KeysVanished
		f.Message = fmt.Sprintf("the %d v2 keys are gone", pk)
		if !c.enabled {
			f.Message += " from view (the v2 API is off; the data may still be in the store)"
		}
	default:
		f.Kind, f.Worse = V2KeysChanged, ck > pk
		f.Message = fmt.Sprintf("v2 keys %d → %d", pk, ck)
	}
	return append(out, f)
}

func backendOf(c *collectors.ClusterFacts) string {
	seen := map[string]bool{}
	for _, m := range c.Members {
		if m.Reachable && m.Backend != nil && m.Backend.Observed != "" {
			seen[m.Backend.Observed] = true
		}
	}
	switch {
	case len(seen) == 0:
		return ""
	case seen[collectors.BackendMixed] || (seen[collectors.BackendEtcd2] && seen[collectors.BackendEtcd3]):
		return collectors.BackendMixed
	case seen[collectors.BackendEtcd2]:
		return collectors.BackendEtcd2
	case seen[collectors.BackendEtcd3]:
		return collectors.BackendEtcd3
	default:
		return collectors.BackendNone
	}
}

func alarmsOf(c *collectors.ClusterFacts) map[string]bool {
	out := map[string]bool{}
	for _, m := range c.Members {
		if m.Alarms == nil {
			continue
		}
		for _, a := range m.Alarms.Alarms {
			out[a.Alarm+" on member "+a.MemberID] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func pct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// Package collectors gathers facts from every member of every cluster of a
// fleet and holds the facts types every later stage (policies, reports,
// history, remediation) reads.
//
// A fact that could not be collected is a nil pointer with an entry in the
// owner's Errors naming the collector: a missing fact must never look like a
// zero, so policies judge it as an error rather than a pass.
package collectors

import "time"

// FactsSchema names the JSON document version written by `etcdaudit facts`.
// Bump it (and schema/facts.schema.json) on any incompatible change.
const FactsSchema = "etcdaudit.facts/v1"

// Facts is everything one run learned about a fleet.
type Facts struct {
	Schema      string    `json:"schema"`
	ToolVersion string    `json:"tool_version"`
	Inventory   string    `json:"inventory"` // the inventory's name or path, never a secret
	Profile     string    `json:"profile"`   // quick | standard | full | custom
	Collectors  []string  `json:"collectors"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	// Interrupted is set when the run's timeout or a signal ended it before
	// every collector finished: the facts missing then have errors saying so.
	Interrupted string `json:"interrupted,omitempty"`
	// Clusters are sorted by name so two runs on an unchanged fleet differ
	// only in timestamps and durations.
	Clusters []ClusterFacts `json:"clusters"`
}

// ClusterFacts holds one cluster's inventory context, its members' facts and
// the facts that only make sense across members.
type ClusterFacts struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"` // region, tier, and the operator's own
	// DeclaredBackend is the Kubernetes storage backend the operator believes
	// is configured (etcd2 | etcd3), empty when the inventory does not say.
	DeclaredBackend string   `json:"declared_backend,omitempty"`
	Endpoints       []string `json:"endpoints"` // as written in the inventory
	// Members are sorted by name, then endpoint.
	Members []MemberFacts `json:"members"`

	Consistency  *Consistency   `json:"consistency,omitempty"`
	HashKV       *HashKVFacts   `json:"hashkv,omitempty"`
	EventLeases  *LeaseCoverage `json:"event_leases,omitempty"`
	Errors       []FactError    `json:"errors,omitempty"`
	Runs         []CollectorRun `json:"runs,omitempty"`
	DiscoveryErr string         `json:"discovery_error,omitempty"`
}

// MemberFacts is one member as the auditor saw it on the wire.
type MemberFacts struct {
	Name       string   `json:"name"`
	ID         string   `json:"id,omitempty"` // hex, as etcdctl prints it
	Endpoint   string   `json:"endpoint"`     // the client URL the facts came from
	ClientURLs []string `json:"client_urls,omitempty"`
	PeerURLs   []string `json:"peer_urls,omitempty"`
	IsLearner  bool     `json:"is_learner"`
	// Started is false for a member added to the member list that never
	// joined (no name, no client URLs).
	Started bool `json:"started"`

	Reachable         bool   `json:"reachable"`
	UnreachableReason string `json:"unreachable_reason,omitempty"`

	Version    *VersionFacts    `json:"version,omitempty"`
	Status     *StatusFacts     `json:"status,omitempty"`
	Health     *HealthFacts     `json:"health,omitempty"`
	Alarms     *AlarmFacts      `json:"alarms,omitempty"`
	MemberList *MemberListFacts `json:"member_list,omitempty"`
	V2         *V2Facts         `json:"v2,omitempty"`
	V3         *V3Facts         `json:"v3,omitempty"`
	Backend    *BackendFacts    `json:"backend,omitempty"`
	Security   *SecurityFacts   `json:"security,omitempty"`

	Errors []FactError    `json:"errors,omitempty"`
	Runs   []CollectorRun `json:"runs,omitempty"`
}

// FactError is a collector's failure kept beside the fact it failed to
// produce.
type FactError struct {
	Collector string `json:"collector"`
	Error     string `json:"error"`
}

// RunState says how one collector fared on one subject.
type RunState string

const (
	RunOK          RunState = "ok"
	RunUnsupported RunState = "unsupported" // the server version has no such API
	RunFailed      RunState = "failed"
	RunSkipped     RunState = "skipped" // e.g. member unreachable
)

// CollectorRun records one collector's outcome and cost on one subject.
type CollectorRun struct {
	Collector  string   `json:"collector"`
	State      RunState `json:"state"`
	DurationMS float64  `json:"duration_ms"`
	Detail     string   `json:"detail,omitempty"`
}

// VersionFacts come from GET /version and Maintenance.Status.
type VersionFacts struct {
	Server  string `json:"server"`            // binary version, e.g. 3.5.35
	Cluster string `json:"cluster,omitempty"` // negotiated cluster version, e.g. 3.5.0
	Storage string `json:"storage,omitempty"` // 3.6+ storage version
}

// StatusFacts are Maintenance.Status as the member reports it.
type StatusFacts struct {
	DBSize           int64    `json:"db_size"`
	DBSizeInUse      int64    `json:"db_size_in_use"`
	DBSizeQuota      int64    `json:"db_size_quota,omitempty"` // 3.6+; 0 when the server does not say
	Leader           string   `json:"leader"`                  // hex member ID, "0" when none
	RaftTerm         uint64   `json:"raft_term"`
	RaftIndex        uint64   `json:"raft_index"`
	RaftAppliedIndex uint64   `json:"raft_applied_index"`
	IsLearner        bool     `json:"is_learner"`
	Errors           []string `json:"errors,omitempty"`
	Revision         int64    `json:"revision"` // header revision of the Status answer
}

// HealthFacts judge health the way etcd does, without the raft-writing GET
// /health: a leader, no alarms, and a linearizable read within the deadline.
type HealthFacts struct {
	Healthy       bool    `json:"healthy"`
	Reason        string  `json:"reason,omitempty"`
	LeaderPresent bool    `json:"leader_present"`
	ReadMS        float64 `json:"read_ms"`
}

// AlarmFacts lists the active alarms the member reports (NOSPACE, CORRUPT).
type AlarmFacts struct {
	Alarms []MemberAlarm `json:"alarms"`
}

// MemberAlarm is one alarm and the member it was raised for.
type MemberAlarm struct {
	MemberID string `json:"member_id"`
	Alarm    string `json:"alarm"`
}

// MemberListFacts is the member list as this member reports it; comparing
// lists across members finds split views.
type MemberListFacts struct {
	Members []ListedMember `json:"members"` // sorted by ID
}

// ListedMember is one entry of a MemberList answer.
type ListedMember struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
}

// V2Facts describe the legacy v2 store. Enabled=false and Keys=0 are
// different facts: the first means the API answered "not enabled" (or the
// server is 3.6+), the second that it is on and empty.
type V2Facts struct {
	Enabled bool `json:"enabled"`
	// Counted is false when the API is on but the keyspace was not walked
	// (v2_count left out of the run, as the quick profile does): Keys and
	// Dirs are then unknown, not zero.
	Counted         bool     `json:"counted"`
	Keys            int64    `json:"keys"` // custom keys, etcd's internal entries excluded
	Dirs            int64    `json:"dirs"`
	TTLKeys         int64    `json:"ttl_keys"`
	RegistryPresent bool     `json:"registry_present"`
	RegistryKeys    int64    `json:"registry_keys"`
	SampleKeys      []string `json:"sample_keys,omitempty"`
	// AuthEnabled, AuthUsers and AuthRoles are the v2 API's own auth (not
	// v3's): users and roles stored in the v2 store (the built-in root
	// role excluded), which 3.6 refuses as custom v2 content. AuthCounted
	// is false when they were not read (not walked, or root access refused).
	AuthEnabled bool  `json:"auth_enabled,omitempty"`
	AuthCounted bool  `json:"auth_counted,omitempty"`
	AuthUsers   int64 `json:"auth_users,omitempty"`
	AuthRoles   int64 `json:"auth_roles,omitempty"`
	// AuthError says why the v2 auth lists were not read.
	AuthError string `json:"auth_error,omitempty"`
}

// V3Facts count the v3 keyspace at one revision.
type V3Facts struct {
	Keys            int64 `json:"keys"`
	RegistryKeys    int64 `json:"registry_keys"`
	RegistryPresent bool  `json:"registry_present"`
	Revision        int64 `json:"revision"`
	CompactRevision int64 `json:"compact_revision,omitempty"`
}

// Kubernetes storage backends implied by where /registry lives.
const (
	BackendEtcd2 = "etcd2"
	BackendEtcd3 = "etcd3"
	BackendMixed = "mixed"
	BackendNone  = "none"
)

// BackendFacts is the Kubernetes storage backend the v2 and v3 facts imply.
type BackendFacts struct {
	Observed string `json:"observed"` // etcd2 | etcd3 | mixed | none
}

// SecurityFacts are the TLS and auth posture seen on the wire.
type SecurityFacts struct {
	Scheme       string     `json:"scheme"` // http | https
	TLSVersion   string     `json:"tls_version,omitempty"`
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
	CertDaysLeft *float64   `json:"cert_days_left,omitempty"`
	CertSANs     []string   `json:"cert_sans,omitempty"`
	CertSubject  string     `json:"cert_subject,omitempty"`
	// ClientCertRequired is nil when it could not be probed (plain http).
	ClientCertRequired *bool `json:"client_cert_required,omitempty"`
	// AuthEnabled is nil when the server could not tell.
	AuthEnabled *bool `json:"auth_enabled,omitempty"`
}

// Consistency compares what members say about the cluster.
type Consistency struct {
	MemberListsAgree bool     `json:"member_lists_agree"`
	LeadersAgree     bool     `json:"leaders_agree"`
	Leaders          []string `json:"leaders"` // distinct leader IDs reported, sorted
	RaftIndexMin     uint64   `json:"raft_index_min"`
	RaftIndexMax     uint64   `json:"raft_index_max"`
	RaftIndexSpread  uint64   `json:"raft_index_spread"`
	AppliedIndexMin  uint64   `json:"applied_index_min"`
	AppliedIndexMax  uint64   `json:"applied_index_max"`
	AppliedSpread    uint64   `json:"applied_index_spread"`
	MembersCompared  int      `json:"members_compared"`
	VotingMembers    int      `json:"voting_members"`
	Learners         int      `json:"learners"`
	Unstarted        int      `json:"unstarted"`
}

// HashKVFacts compare each member's KV hash at one common revision.
type HashKVFacts struct {
	Revision        int64             `json:"revision"`
	CompactRevision int64             `json:"compact_revision"`
	Hashes          map[string]uint32 `json:"hashes"` // member name -> hash
	Agree           bool              `json:"agree"`
	MembersCompared int               `json:"members_compared"`
}

// LeaseCoverage says how many Kubernetes events keys carry a live lease. The
// seed's migration left events without leases, so they never expired.
type LeaseCoverage struct {
	Prefix        string   `json:"prefix"`
	Revision      int64    `json:"revision"`
	Keys          int64    `json:"keys"`
	Leased        int64    `json:"leased"`
	Unleased      int64    `json:"unleased"`
	Ratio         float64  `json:"ratio"` // leased / keys; 1 when there are no keys
	SampleNoLease []string `json:"sample_no_lease,omitempty"`
	// TTLBuckets is the distribution of remaining TTLs of the attached
	// leases, keyed by bucket label (e.g. "<=1m", "<=10m", "<=1h", ">1h").
	TTLBuckets map[string]int64 `json:"ttl_buckets,omitempty"`
	Leases     int64            `json:"leases"` // distinct live leases attached
	Method     string           `json:"method"` // keys-only | full-kv | lease-join
	// LeasesCapped is true when more distinct leases were attached than the
	// collector remembers (10,000): Leases is then a lower bound. Keys,
	// Leased and Unleased stay exact.
	LeasesCapped bool `json:"leases_capped,omitempty"`
	// TTLProbed is how many leases TTLBuckets covers (the leases attached to
	// the most keys first, at most 1,000).
	TTLProbed int64 `json:"ttl_probed"`
}

// Label names a member in results, drift and messages: its name, or for a
// member that never started (no name yet) its ID, or its endpoint.
func (m *MemberFacts) Label() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.ID != "":
		return m.ID
	default:
		return m.Endpoint
	}
}

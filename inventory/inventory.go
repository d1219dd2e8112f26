// Package inventory reads the fleet file (YAML): which clusters exist, how to
// reach and authenticate to them, how they are labelled, and what the
// operator believes about them. It also discovers each cluster's members.
package inventory

import "time"

// Tiers an inventory may use; the remediator rolls out smallest first.
var Tiers = []string{"small", "medium", "large"}

// Fleet is a validated inventory with defaults already applied to every
// cluster.
type Fleet struct {
	Name     string    `json:"name" yaml:"name"`
	Source   string    `json:"source,omitempty" yaml:"-"` // file path, or "flags"
	Clusters []Cluster `json:"clusters" yaml:"clusters"`
}

// Cluster is one etcd cluster of the fleet.
type Cluster struct {
	Name      string            `json:"name" yaml:"name"`
	Endpoints []string          `json:"endpoints" yaml:"endpoints"`
	Labels    map[string]string `json:"labels,omitempty" yaml:"labels"` // region, tier, any others
	TLS       TLS               `json:"tls" yaml:"tls"`
	Auth      Auth              `json:"auth" yaml:"auth"`
	// KubernetesBackend is what the operator believes the API servers are
	// configured with (etcd2 | etcd3), empty when unknown.
	KubernetesBackend string  `json:"kubernetes_backend,omitempty" yaml:"kubernetes_backend"`
	Collect           Collect `json:"collect" yaml:"collect"`
	Hooks             Hooks   `json:"hooks,omitempty" yaml:"hooks"`
	Line              int     `json:"-" yaml:"-"` // where the cluster is declared, for messages
}

// Tier is the cluster's tier label ("" when unset).
func (c Cluster) Tier() string { return c.Labels["tier"] }

// Region is the cluster's region label ("" when unset).
func (c Cluster) Region() string { return c.Labels["region"] }

// TLS names files, never inline PEM, so the inventory can be shared.
type TLS struct {
	CA                 string `json:"ca,omitempty" yaml:"ca"`
	Cert               string `json:"cert,omitempty" yaml:"cert"`
	Key                string `json:"key,omitempty" yaml:"key"`
	ServerName         string `json:"server_name,omitempty" yaml:"server_name"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty" yaml:"insecure_skip_verify"`
}

// Auth references the etcd password; it is never written inline so the
// inventory never holds a secret.
type Auth struct {
	User         string `json:"user,omitempty" yaml:"user"`
	PasswordEnv  string `json:"password_env,omitempty" yaml:"password_env"`
	PasswordFile string `json:"password_file,omitempty" yaml:"password_file"`
}

// Collect tunes the collectors for one cluster.
type Collect struct {
	EventsPrefix   string        `json:"events_prefix,omitempty" yaml:"events_prefix"`
	RegistryPrefix string        `json:"registry_prefix,omitempty" yaml:"registry_prefix"`
	PageSize       int64         `json:"page_size,omitempty" yaml:"page_size"`
	DialTimeout    time.Duration `json:"dial_timeout,omitempty" yaml:"dial_timeout"`
	CommandTimeout time.Duration `json:"command_timeout,omitempty" yaml:"command_timeout"`
	// KeyspaceTimeout bounds one keyspace walk (lease coverage, v2 count).
	KeyspaceTimeout time.Duration `json:"keyspace_timeout,omitempty" yaml:"keyspace_timeout"`
}

// Hooks are host commands the remediator runs (stop/start etcd, swap the
// binary, stop/start the API server). Templated; see the remediate package.
type Hooks map[string][]string

// Defaults every cluster inherits unless it sets its own.
const (
	DefaultEventsPrefix    = "/registry/events/"
	DefaultRegistryPrefix  = "/registry/"
	DefaultPageSize        = 10000
	DefaultDialTimeout     = 3 * time.Second
	DefaultCommandTimeout  = 5 * time.Second
	DefaultKeyspaceTimeout = 2 * time.Minute
)

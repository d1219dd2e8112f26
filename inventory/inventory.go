// Package inventory reads the fleet file (YAML): which clusters exist, how to
// reach and authenticate to them, how they are labelled, and what the
// operator believes about them. It also discovers each cluster's members.
package inventory

import (
	"fmt"
	"time"
)

// Tiers an inventory may use; the remediator rolls out smallest first.
var Tiers = []string{"small", "medium", "large"}

// Fleet is a validated inventory with defaults already applied to every
// cluster.
type Fleet struct {
	Name     string    `json:"name" yaml:"name"`
	Source   string    `json:"source,omitempty" yaml:"-"` // file path, or "flags"
	Clusters []Cluster `json:"clusters" yaml:"clusters"`
	// Lock is the coordination etcd that holds the remediator's per-cluster
	// locks (the `lock:` section: endpoints, tls, auth), so remediators on
	// different machines exclude each other; nil: a lock file in the state
	// dir. It is never scanned.
	Lock *Cluster `json:"lock,omitempty" yaml:"lock,omitempty"`
	// Warnings are valid but risky settings (clear-text passwords, skipped
	// certificate checks, a world-readable password file).
	Warnings []Problem `json:"warnings,omitempty" yaml:"-"`
}

// Cluster is one etcd cluster of the fleet.
type Cluster struct {
	Name      string            `json:"name" yaml:"name"`
	Endpoints []string          `json:"endpoints" yaml:"endpoints"`
	Labels    map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"` // region, tier, any others
	TLS       TLS               `json:"tls" yaml:"tls,omitempty"`
	Auth      Auth              `json:"auth" yaml:"auth,omitempty"`
	// KubernetesBackend is what the operator believes the API servers are
	// configured with (etcd2 | etcd3), empty when unknown.
	KubernetesBackend string  `json:"kubernetes_backend,omitempty" yaml:"kubernetes_backend,omitempty"`
	Collect           Collect `json:"collect" yaml:"collect,omitempty"`
	Hooks             Hooks   `json:"hooks,omitempty" yaml:"hooks,omitempty"`
	// HookTimeouts override the remediator's default deadline per hook name.
	HookTimeouts map[string]time.Duration `json:"hook_timeouts,omitempty" yaml:"hook_timeouts,omitempty"`
	Line         int                      `json:"-" yaml:"-"` // where the cluster is declared, for messages
}

// Tier is the cluster's tier label ("" when unset).
func (c Cluster) Tier() string { return c.Labels["tier"] }

// Region is the cluster's region label ("" when unset).
func (c Cluster) Region() string { return c.Labels["region"] }

// TLS names files, never inline PEM, so the inventory can be shared.
type TLS struct {
	CA                 string `json:"ca,omitempty" yaml:"ca,omitempty"`
	Cert               string `json:"cert,omitempty" yaml:"cert,omitempty"`
	Key                string `json:"key,omitempty" yaml:"key,omitempty"`
	ServerName         string `json:"server_name,omitempty" yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty" yaml:"insecure_skip_verify,omitempty"`
}

// Auth references the etcd password; it is never written inline so the
// inventory never holds a secret.
type Auth struct {
	User         string `json:"user,omitempty" yaml:"user,omitempty"`
	PasswordEnv  string `json:"password_env,omitempty" yaml:"password_env,omitempty"`
	PasswordFile string `json:"password_file,omitempty" yaml:"password_file,omitempty"`
	// password is an inline secret only FromFlags sets (etcdctl's --password
	// or --user user:pass); unexported so it never reaches JSON or YAML.
	// Inventory files cannot set it: they name an env var or a file.
	password string
}

// Collect tunes the collectors for one cluster.
type Collect struct {
	EventsPrefix   string        `json:"events_prefix,omitempty" yaml:"events_prefix,omitempty"`
	RegistryPrefix string        `json:"registry_prefix,omitempty" yaml:"registry_prefix,omitempty"`
	PageSize       int64         `json:"page_size,omitempty" yaml:"page_size,omitempty"`
	DialTimeout    time.Duration `json:"dial_timeout,omitempty" yaml:"dial_timeout,omitempty"`
	CommandTimeout time.Duration `json:"command_timeout,omitempty" yaml:"command_timeout,omitempty"`
	// KeyspaceTimeout bounds one keyspace walk (lease coverage, v2 count).
	KeyspaceTimeout time.Duration `json:"keyspace_timeout,omitempty" yaml:"keyspace_timeout,omitempty"`
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

// String describes where the password comes from, never the password itself,
// so an Auth can be logged or printed safely.
func (a Auth) String() string {
	switch {
	case a.User == "":
		return "none"
	case a.PasswordEnv != "":
		return fmt.Sprintf("user %s, password from $%s", a.User, a.PasswordEnv)
	case a.PasswordFile != "":
		return fmt.Sprintf("user %s, password from file %s", a.User, a.PasswordFile)
	case a.password != "":
		return fmt.Sprintf("user %s, password from flags (redacted)", a.User)
	default:
		return fmt.Sprintf("user %s, no password", a.User)
	}
}

// ConnFlags are etcdctl's connection flags, for the quick one-cluster fleet
// (`--endpoints …` instead of `-f fleet.yaml`). Zero values mean "not given";
// FromFlags fills them from ETCDCTL_* variables the operator already has set.
type ConnFlags struct {
	Name                  string // cluster name; derived from the first endpoint when empty
	Endpoints             []string
	CACert, Cert, Key     string
	ServerName            string
	User                  string // "user" or "user:password", as etcdctl takes it
	Password              string
	InsecureSkipTLSVerify bool
	DialTimeout           time.Duration
	CommandTimeout        time.Duration
	// Env looks up ETCDCTL_* variables; nil means os.LookupEnv. Tests swap it.
	Env func(string) (string, bool)
	// Set reports whether a flag was given on the command line, so flags win
	// over the environment even when given a zero value; nil means "given when
	// non-zero".
	Set func(flag string) bool
}

// MarshalYAML writes durations as "5s" rather than nanoseconds, so a
// marshalled Fleet is a valid inventory again.
func (c Collect) MarshalYAML() (any, error) {
	type out struct {
		EventsPrefix    string `yaml:"events_prefix,omitempty"`
		RegistryPrefix  string `yaml:"registry_prefix,omitempty"`
		PageSize        int64  `yaml:"page_size,omitempty"`
		DialTimeout     string `yaml:"dial_timeout,omitempty"`
		CommandTimeout  string `yaml:"command_timeout,omitempty"`
		KeyspaceTimeout string `yaml:"keyspace_timeout,omitempty"`
	}
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return out{c.EventsPrefix, c.RegistryPrefix, c.PageSize, d(c.DialTimeout), d(c.CommandTimeout), d(c.KeyspaceTimeout)}, nil
}

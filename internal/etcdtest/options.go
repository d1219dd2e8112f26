package etcdtest

import (
	"fmt"
	"strings"
)

type config struct {
	version       string
	members       int
	v2            bool
	tls           bool
	auth          bool
	snapshotCount uint64
	flags         []string
	name          string
}

// Option configures NewCluster.
type Option func(*config)

// WithVersion picks the server: "3.4", "3.5", "3.6", "3.7" (or their full
// versions) or "embed" (the default: in-process, needs no binary).
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithMembers sets the member count, 1 to 5 (default 1).
func WithMembers(n int) Option { return func(c *config) { c.members = n } }

// WithV2 serves the v2 keys API (--enable-v2). Only 3.4, 3.5 and embed have
// it; a member started on 3.6+ drops the flag by itself.
func WithV2() Option { return func(c *config) { c.v2 = true } }

// WithoutV2 undoes WithV2, for Member.StartWith: step 3 of the verified
// 3.5→3.6 procedure restarts every member without --enable-v2.
func WithoutV2() Option { return func(c *config) { c.v2 = false } }

// WithTLS serves clients over https with client-certificate auth, using a CA
// and certificates generated for this test. Peers stay on plain http.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithAuth enables etcd auth with user root (role root) and a random
// password; Client then returns clients logged in as root.
func WithAuth() Option { return func(c *config) { c.auth = true } }

// bcryptCost is what WithAuth servers hash passwords with: the minimum, since
// every login pays it and the default (10) costs seconds in-process under
// -race. Nothing an auditor sees on the wire depends on it.
const bcryptCost = 4

// WithSnapshotCount sets --snapshot-count, so tests can force snapshots with a
// handful of writes (the 3.5→3.6 upgrade path depends on them).
func WithSnapshotCount(n uint64) Option { return func(c *config) { c.snapshotCount = n } }

// WithFlags appends raw server flags (process versions only; embed ignores
// them and fails the test, since they cannot be applied in-process).
func WithFlags(flags ...string) Option {
	return func(c *config) { c.flags = append(c.flags, flags...) }
}

// WithOnlyFlags replaces the raw server flags given so far, where WithFlags
// appends: for Member.StartWith, to start a member without a flag it had
// (the host stand-in's set-flags --drop).
func WithOnlyFlags(flags ...string) Option {
	return func(c *config) { c.flags = append([]string(nil), flags...) }
}

// WithName sets the member-name prefix and cluster token (default "m").
func WithName(prefix string) Option { return func(c *config) { c.name = prefix } }

// validate normalises the version and rejects impossible combinations
// before anything starts.
func (cfg *config) validate() error {
	short, err := shortVersion(cfg.version)
	if err != nil {
		return err
	}
	cfg.version = short
	switch {
	case cfg.members < 1 || cfg.members > 5:
		return fmt.Errorf("etcdtest: WithMembers(%d): want 1 to 5", cfg.members)
	case cfg.v2 && minorAtLeast(short, 6):
		return fmt.Errorf("etcdtest: WithV2 on etcd %s: the v2 API (--enable-v2) was removed in 3.6", fullVersions[short])
	case short == Embed && len(cfg.flags) > 0:
		return fmt.Errorf("etcdtest: WithFlags(%q) cannot apply to the in-process server", cfg.flags)
	case cfg.name == "" || strings.ContainsAny(cfg.name, "=, /\n"):
		return fmt.Errorf("etcdtest: WithName(%q): want a plain name", cfg.name)
	}
	return nil
}

package collectors_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/pki"
)

// TestTLSAndAuth: client-cert TLS plus etcd auth, as a hardened production
// cluster runs. The wire facts must say so, and everything else still works.
func TestTLSAndAuth(t *testing.T) {
	for _, v := range []string{"3.4", "3.6"} {
		t.Run(v, func(t *testing.T) {
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithTLS(), etcdtest.WithAuth())
			seedV3(t, c.Client(t), "/registry/pods/p%d", 3)
			before := settled(t, c)
			f := run(t, fleetFor(t, "secure", c), collectors.Options{Profile: collectors.ProfileFull})
			noErrors(t, f)
			// With etcd auth on, logging in is a raft entry (etcd's design);
			// the run shares one token, so at most one entry and no revision.
			after := positions(t, c)
			for name, b := range before {
				a := after[name]
				if a.revision != b.revision || a.raftIndex > b.raftIndex+1 {
					t.Errorf("%s: a facts run with auth on moved revision %d->%d, raft index %d->%d (want at most one Authenticate entry)",
						name, b.revision, a.revision, b.raftIndex, a.raftIndex)
				}
			}
			m := f.Clusters[0].Members[0]
			s := m.Security
			if s == nil || s.Scheme != "https" || s.TLSVersion != "TLS 1.3" || s.ClientCertRequired == nil || !*s.ClientCertRequired ||
				s.AuthEnabled == nil || !*s.AuthEnabled || s.CertNotAfter == nil || s.CertDaysLeft == nil || *s.CertDaysLeft < 1 {
				t.Fatalf("security %s", dump(s))
			}
			if !strings.Contains(strings.Join(s.CertSANs, ","), "127.0.0.1") {
				t.Errorf("SANs %v lack 127.0.0.1", s.CertSANs)
			}
			if m.V3 == nil || m.V3.Keys != 3 || m.Backend == nil || m.Backend.Observed != collectors.BackendEtcd3 {
				t.Errorf("v3 %+v backend %+v", m.V3, m.Backend)
			}
			// The password must never reach the facts.
			b, _ := json.Marshal(f)
			if strings.Contains(string(b), c.RootPassword) {
				t.Fatal("facts contain the root password")
			}
		})
	}
}

// TestWrongCA: a CA that did not sign the servers' certificates. The facts
// say which TLS problem it is, and the run does not fail.
func TestWrongCA(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithTLS())
	fleet := fleetFor(t, "wrongca", c)
	other, err := pki.Generate(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fleet.Clusters[0].TLS.CA = other.CA
	f := run(t, fleet, collectors.Options{})
	cf := f.Clusters[0]
	if !strings.Contains(cf.DiscoveryErr, "unknown authority") && !strings.Contains(cf.DiscoveryErr, "x509") {
		t.Fatalf("discovery error %q does not name the TLS problem", cf.DiscoveryErr)
	}
	if len(cf.Errors) == 0 || cf.Consistency != nil {
		t.Fatalf("a cluster that could not be reached must carry its error and no facts: %s", dump(cf))
	}
}

// TestV2OffAndEmpty: "the v2 API is off" and "the v2 API is on and holds
// nothing" are different facts, in every profile.
func TestV2OffAndEmpty(t *testing.T) {
	off := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"))
	on := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithV2())
	for _, profile := range collectors.Profiles {
		fOff := run(t, fleetFor(t, "off", off), collectors.Options{Profile: profile})
		fOn := run(t, fleetFor(t, "on", on), collectors.Options{Profile: profile})
		noErrors(t, fOff)
		noErrors(t, fOn)
		if v := fOff.Clusters[0].Members[0].V2; v == nil || v.Enabled {
			t.Errorf("%s: v2 off: %+v", profile, v)
		}
		v := fOn.Clusters[0].Members[0].V2
		if v == nil || !v.Enabled || v.Keys != 0 || v.RegistryPresent {
			t.Errorf("%s: v2 on and empty: %+v", profile, v)
		}
		if want := profile != collectors.ProfileQuick; v != nil && v.Counted != want {
			t.Errorf("%s: counted %v, want %v", profile, v.Counted, want)
		}
		if b := fOn.Clusters[0].Members[0].Backend; b == nil || b.Observed != collectors.BackendNone {
			t.Errorf("%s: backend %+v, want none", profile, b)
		}
	}
}

// TestEmptyCluster: nothing seeded. Zero is a fact here, and coverage of no
// keys is complete (ratio 1).
func TestEmptyCluster(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	f := run(t, fleetFor(t, "empty", c), collectors.Options{Profile: collectors.ProfileFull})
	noErrors(t, f)
	m := f.Clusters[0].Members[0]
	if m.V3 == nil || m.V3.Keys != 0 || m.V3.RegistryPresent || m.Backend == nil || m.Backend.Observed != collectors.BackendNone {
		t.Fatalf("v3 %+v backend %+v", m.V3, m.Backend)
	}
	el := f.Clusters[0].EventLeases
	if el == nil || el.Keys != 0 || el.Ratio != 1 || len(el.SampleNoLease) != 0 {
		t.Fatalf("event leases %+v", el)
	}
}

// TestArbitraryKeyBytes: key names are bytes, not text. Samples stay valid
// JSON and give back the exact bytes.
func TestArbitraryKeyBytes(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	cli := c.Client(t)
	keys := []string{
		"/registry/events/\x00nul", "/registry/events/\xff\xfeinvalid", "/registry/events/new\nline",
		"/registry/events/\"quoted\"", "/registry/events/ünïcödé", "/registry/events/tab\there",
	}
	for _, k := range keys {
		if _, err := cli.Put(context.Background(), k, "\x00\xff"); err != nil {
			t.Fatal(err)
		}
	}
	f := run(t, fleetFor(t, "bytes", c), collectors.Options{Profile: collectors.ProfileFull})
	noErrors(t, f)
	el := f.Clusters[0].EventLeases
	if el == nil || el.Keys != int64(len(keys)) || len(el.SampleNoLease) != len(keys) {
		t.Fatalf("event leases %+v", el)
	}
	got := map[string]bool{}
	for _, s := range el.SampleNoLease {
		b, err := collectors.ParseKey(s)
		if err != nil {
			t.Fatalf("sample %q does not parse back: %v", s, err)
		}
		got[string(b)] = true
	}
	for _, k := range keys {
		if !got[k] {
			t.Errorf("key %q not among the samples %q", k, el.SampleNoLease)
		}
	}
	out := filepath.Join(t.TempDir(), "f.json")
	b, _ := json.Marshal(f)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var back collectors.Facts
	if err := json.Unmarshal(b, &back); err != nil || back.Clusters[0].EventLeases.SampleNoLease[1] != el.SampleNoLease[1] {
		t.Fatalf("round trip: %v", err)
	}
}

// TestKilledAndPausedMembers: one member killed, one hung (SIGSTOP). The
// run finishes within the command timeout plus slack, names both, and still
// collects the healthy member.
func TestKilledAndPausedMembers(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	seedV3(t, c.Client(t), "/k%d", 5)
	// Every member must hold the 5 keys before two go down: a write needs
	// only a quorum, and m0 may be the follower that has not applied it yet.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Members[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Members[2].Pause(); err != nil {
		t.Fatal(err)
	}
	fleet := fleetFor(t, "degraded", c)
	fleet.Clusters[0].Collect.CommandTimeout = 2 * time.Second
	start := time.Now()
	f := run(t, fleet, collectors.Options{Profile: collectors.ProfileFull})
	took := time.Since(start)
	if took > 12*time.Second {
		t.Errorf("run took %s with a 2s command timeout", took)
	}
	cf := f.Clusters[0]
	if cf.DiscoveryErr != "" || len(cf.Members) != 3 {
		t.Fatalf("discovery: %q, %d members", cf.DiscoveryErr, len(cf.Members))
	}
	m0, m1, m2 := member(t, f, "m0"), member(t, f, "m1"), member(t, f, "m2")
	if !m0.Reachable || m0.V3 == nil || m0.V3.Keys != 5 {
		t.Errorf("healthy member: %s", dump(m0))
	}
	if m1.Reachable || !strings.Contains(m1.UnreachableReason, "refused") {
		t.Errorf("killed member: reachable %v, reason %q", m1.Reachable, m1.UnreachableReason)
	}
	if m2.Reachable || m2.UnreachableReason == "" {
		t.Errorf("paused member: reachable %v, reason %q", m2.Reachable, m2.UnreachableReason)
	}
	// Two of three down: no quorum, so no leader, and the health fact says so
	// without waiting for a read that cannot succeed.
	if h := m0.Health; h == nil || h.Healthy || !strings.Contains(h.Reason, "no leader") {
		t.Errorf("health of the member left alone: %+v", h)
	}
	for _, m := range []*collectors.MemberFacts{m1, m2} {
		if m.Status != nil || m.V3 != nil || runState(m.Runs, "v3") != collectors.RunSkipped {
			t.Errorf("%s: an unreachable member must have no facts and skipped runs: %s", m.Name, dump(m))
		}
	}
	t.Logf("run with a killed and a hung member took %s; paused member: %s; runs: %v %v", took, m2.UnreachableReason, m0.Runs, cf.Runs)
}

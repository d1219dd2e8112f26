package inventory

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// slack is what a loaded 2-core CI machine may add to a deadline.
const slack = 1500 * time.Millisecond

func quickCluster(name string, timeout time.Duration, endpoints ...string) Cluster {
	return Cluster{Name: name, Endpoints: endpoints,
		Collect: Collect{DialTimeout: timeout, CommandTimeout: timeout}}
}

func mustConnect(t *testing.T, c Cluster) *Conn {
	t.Helper()
	conn, err := Connect(c)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return conn
}

// hungListener accepts TCP connections and never answers: a paused process,
// a wedged proxy, a black-holed load balancer.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

func TestDiscoverHungEndpoint(t *testing.T) {
	addr := hungListener(t)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			c := quickCluster("hung", time.Second, scheme+"://"+addr)
			start := time.Now()
			d := Discover(context.Background(), c, mustConnect(t, c))
			took := time.Since(start)
			if took > time.Second+slack {
				t.Errorf("Discover took %s against a hung endpoint; its timeout is 1s", took)
			}
			if d.OK() || !strings.Contains(d.Error, "timed out after 1s: no answer (hung?)") {
				t.Errorf("Error = %q, want the timeout named", d.Error)
			}
		})
	}
}

func TestDiscoverRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := quickCluster("gone", 5*time.Second, "http://"+addr)
	start := time.Now()
	d := Discover(context.Background(), c, mustConnect(t, c))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a refused connection took %s: it must not wait for the 5s timeout", took)
	}
	if !strings.Contains(d.Error, "http://"+addr+": connection refused") {
		t.Errorf("Error = %q", d.Error)
	}
	if len(d.Members) != 0 || d.Members == nil {
		t.Errorf("Members = %#v, want an empty list", d.Members)
	}
}

func TestDiscoverCanceled(t *testing.T) {
	addr := hungListener(t)
	c := quickCluster("hung", 30*time.Second, "http://"+addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	Discover(ctx, c, mustConnect(t, c))
	if took := time.Since(start); took > 300*time.Millisecond+slack {
		t.Errorf("Discover ignored its context: %s", took)
	}
}

// indexReader reads every member's raft index through one client per member
// made up front: clientv3's Maintenance.Status would authenticate on every
// call (a raft entry itself), so Status goes over each client's existing,
// already authenticated connection instead.
type indexReader []*clientv3.Client

func newIndexReader(t *testing.T, ec *etcdtest.Cluster) indexReader {
	var r indexReader
	for _, m := range ec.Members {
		r = append(r, ec.Client(t, m.ClientURL))
	}
	return r
}

// settled waits until the raft indexes stop moving (right after start the
// leader still proposes the cluster version, and a first client's login is
// an entry) and returns them: the baseline a "nothing was written" check
// must start from.
func (r indexReader) settled(t *testing.T) []uint64 {
	t.Helper()
	prev := r.read(t)
	for range 30 {
		time.Sleep(300 * time.Millisecond)
		cur := r.read(t)
		if slices.Equal(prev, cur) {
			return cur
		}
		prev = cur
	}
	t.Fatalf("raft indexes never settled: %v", prev)
	return nil
}

func (r indexReader) read(t *testing.T) []uint64 {
	t.Helper()
	var out []uint64
	for _, cli := range r {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &etcdserverpb.StatusRequest{})
		cancel()
		if err != nil {
			t.Fatalf("status %s: %v", cli.Endpoints(), err)
		}
		out = append(out, st.RaftIndex)
	}
	return out
}

func byName(d Discovery) map[string]Member {
	out := map[string]Member{}
	for _, m := range d.Members {
		out[m.Name] = m
	}
	return out
}

// TestDiscoverVersions: on a 3-member cluster of each version, discovery
// finds every member, changes no raft index, and with one member killed and
// one paused returns within the command timeout and names both problems —
// even when the inventory lists the paused member first.
func TestDiscoverVersions(t *testing.T) {
	for _, v := range etcdtest.ProcessVersions() {
		t.Run(v, func(t *testing.T) {
			ec := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithMembers(3))
			full, _ := etcdtest.FullVersion(v)
			m := ec.Members
			const timeout = 2 * time.Second
			c := quickCluster("c-"+v, timeout, m[2].ClientURL, m[1].ClientURL, m[0].ClientURL)
			conn := mustConnect(t, c)

			idx := newIndexReader(t, ec)
			before := idx.settled(t)
			d := Discover(context.Background(), c, conn)
			if after := idx.read(t); !equal(before, after) {
				t.Errorf("discovery moved raft indexes %v -> %v: it must write nothing", before, after)
			}
			if !d.OK() || len(d.Members) != 3 || d.Reachable() != 3 {
				t.Fatalf("healthy cluster: %+v", d)
			}
			leaders := 0
			for _, mm := range d.Members {
				if mm.Version != full || mm.IDHex == "" || len(mm.ClientURLs) != 1 || !mm.Started {
					t.Errorf("member %+v: want version %s, an id and its client URL", mm, full)
				}
				if mm.IsLeader {
					leaders++
				}
			}
			if leaders != 1 {
				t.Errorf("%d leaders reported, want 1", leaders)
			}

			if err := m[1].Kill(); err != nil {
				t.Fatal(err)
			}
			if err := m[2].Pause(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			d = Discover(context.Background(), c, conn)
			took := time.Since(start)
			if took > timeout+slack {
				t.Errorf("Discover took %s with a member killed and one paused; command timeout is %s", took, timeout)
			}
			if !d.OK() || d.Source != m[0].ClientURL {
				t.Fatalf("member list should come from the healthy member %s: %+v", m[0].ClientURL, d)
			}
			got := byName(d)
			if len(got) != 3 || !got[m[0].Name].Reachable || got[m[1].Name].Reachable || got[m[2].Name].Reachable {
				t.Fatalf("reachability wrong: %+v", d.Members)
			}
			if r := got[m[1].Name].Reason; !strings.Contains(r, "connection refused") {
				t.Errorf("killed member reason = %q, want connection refused", r)
			}
			if r := got[m[2].Name].Reason; !strings.Contains(r, "timed out after 2s: no answer (hung?)") {
				t.Errorf("paused member reason = %q, want the timeout", r)
			}
			t.Logf("etcd %s: degraded discovery took %s", full, took)
		})
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDiscoverTLS: client-cert TLS works on every version, and each
// misconfiguration is named (3.4's older TLS stack fails differently).
func TestDiscoverTLS(t *testing.T) {
	for _, v := range etcdtest.Versions() {
		t.Run(v, func(t *testing.T) {
			ec := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithTLS())
			ep := ec.Members[0].ClientURL
			good := quickCluster("tls", 3*time.Second, ep)
			good.TLS = TLS{CA: ec.TLS.CA, Cert: ec.TLS.ClientCert, Key: ec.TLS.ClientKey}

			d := Discover(context.Background(), good, mustConnect(t, good))
			if !d.OK() || d.Reachable() != 1 {
				t.Fatalf("TLS with client cert: %+v", d)
			}

			wrongCA := good
			wrongCA.TLS.CA = filepath.Join(testdata, "certs", "ca.pem")
			noCert := good
			noCert.TLS.Cert, noCert.TLS.Key = "", ""
			otherCert := good
			otherCert.TLS.Cert, otherCert.TLS.Key = filepath.Join(testdata, "certs", "client.pem"), filepath.Join(testdata, "certs", "client-key.pem")
			plain := good
			plain.Endpoints = []string{strings.Replace(ep, "https://", "http://", 1)}
			plain.TLS = TLS{}
			for _, tc := range []struct {
				name string
				c    Cluster
				want string
			}{
				{"wrong CA", wrongCA, "TLS: certificate signed by unknown authority"},
				{"no client cert", noCert, "client certificate"},
				{"client cert of another CA", otherCert, "client certificate"},
				{"http to https", plain, "use https://"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					start := time.Now()
					d := Discover(context.Background(), tc.c, mustConnect(t, tc.c))
					if d.OK() || !strings.Contains(d.Error, tc.want) {
						t.Errorf("Error = %q, want it to say %q", d.Error, tc.want)
					}
					if took := time.Since(start); took > 3*time.Second+slack {
						t.Errorf("took %s", took)
					}
				})
			}
		})
	}
}

// TestDiscoverAuth: on every version, password auth from an env var works
// with at most one Authenticate (etcd appends each to the raft log) per
// discovery, and a wrong or missing password is named.
func TestDiscoverAuth(t *testing.T) {
	for _, v := range etcdtest.Versions() {
		t.Run(v, func(t *testing.T) {
			ec := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithAuth())
			t.Setenv("ETCDAUDIT_TEST_PW", ec.RootPassword+"\n")
			c := quickCluster("auth", 10*time.Second, ec.Endpoints()...) // bcrypt under -race on a loaded machine is slow
			c.Auth = Auth{User: "root", PasswordEnv: "ETCDAUDIT_TEST_PW"}
			conn := mustConnect(t, c)

			idx := newIndexReader(t, ec)
			before := idx.settled(t)
			d := Discover(context.Background(), c, conn)
			after := idx.read(t)
			if !d.OK() || d.Reachable() != len(ec.Members) {
				t.Fatalf("auth discovery: %+v", d)
			}
			if after[0]-before[0] > 1 {
				t.Errorf("raft index moved by %d: discovery must authenticate at most once", after[0]-before[0])
			}

			t.Setenv("ETCDAUDIT_TEST_PW", "wrong")
			d = Discover(context.Background(), c, mustConnect(t, c))
			all := d.Error
			for _, m := range d.Members {
				all += " " + m.Reason
			}
			if d.Reachable() != 0 || !strings.Contains(all, "authentication failed") {
				t.Errorf("wrong password: %q, want authentication failed", all)
			}
			if strings.Contains(all, ec.RootPassword) || strings.Contains(all, "wrong") {
				t.Error("a password leaked into the error")
			}

			c.Auth = Auth{}
			d = Discover(context.Background(), c, mustConnect(t, c))
			all = d.Error
			for _, m := range d.Members {
				all += " " + m.Reason
			}
			switch {
			case v == "3.4": // 3.4 serves MemberList and Status to anyone
				if d.Reachable() != len(ec.Members) {
					t.Errorf("3.4 anonymous discovery: %+v", d)
				}
			case d.Reachable() != 0 || !strings.Contains(all, "etcd auth is on: set auth.user"):
				t.Errorf("no credentials: %q", all)
			}
		})
	}
}

// secureCluster starts a 3-member cluster with TLS, client certificates and
// etcd auth, and returns it with its inventory entry and connection.
func secureCluster(t *testing.T, name string) (*etcdtest.Cluster, Cluster, *Conn) {
	t.Helper()
	ec := etcdtest.NewCluster(t, etcdtest.WithTLS(), etcdtest.WithAuth(), etcdtest.WithMembers(3))
	t.Setenv("ETCDAUDIT_TEST_PW", ec.RootPassword)
	c := quickCluster(name, 10*time.Second, ec.Endpoints()...)
	c.TLS = TLS{CA: ec.TLS.CA, Cert: ec.TLS.ClientCert, Key: ec.TLS.ClientKey}
	c.Auth = Auth{User: "root", PasswordEnv: "ETCDAUDIT_TEST_PW"}
	return ec, c, mustConnect(t, c)
}

// TestClientConfigWorks: the config Connect builds is usable as is by
// collectors (TLS, credentials, silent logger), and however many clients and
// per-member Maintenance calls they make, a run authenticates once: one raft
// entry, where clientv3's own Username/Password adds one per client and per
// Maintenance call.
func TestClientConfigWorks(t *testing.T) {
	ec, c, conn := secureCluster(t, "cfg")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idx := newIndexReader(t, ec)

	calls := func(cfg clientv3.Config) error {
		cli, err := clientv3.New(cfg)
		if err != nil {
			return err
		}
		defer cli.Close()
		if _, err := cli.Get(ctx, "/anything"); err != nil {
			return fmt.Errorf("Get: %w", err)
		}
		for _, ep := range ec.Endpoints() {
			if _, err := cli.Status(ctx, ep); err != nil {
				return fmt.Errorf("Status %s: %w", ep, err)
			}
			if _, err := cli.HashKV(ctx, ep, 0); err != nil {
				return fmt.Errorf("HashKV %s: %w", ep, err)
			}
		}
		return nil
	}
	before := idx.settled(t)
	for range 3 { // three clients, as a collector run makes several
		if err := calls(conn.ClientConfig(c.Endpoints)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ep := range ec.Endpoints() {
		if err := calls(conn.ClientConfig([]string{ep})); err != nil {
			t.Fatal(err)
		}
	}
	after := idx.read(t)
	if d := after[0] - before[0]; d != 1 {
		t.Errorf("raft index moved by %d for 6 clients and 36 Maintenance calls; want 1 (one Authenticate)", d)
	}

	// For comparison only: stock clientv3 logs in again for every
	// Maintenance call (a raft entry each), and a member sometimes rejects
	// the fresh token; on 3.4/3.5 HashKV's rejection comes untranslated
	// ("auth: invalid auth token", code Unknown), which clientv3 neither
	// renews nor retries. Its error is logged: it is not this package's.
	stock := conn.ClientConfig(c.Endpoints)
	stock.DialOptions, stock.Username, stock.Password = nil, "root", ec.RootPassword
	before = idx.read(t)
	err := calls(stock)
	after = idx.read(t)
	t.Logf("for comparison, one stock clientv3 client with Username/Password moved the raft index by %d (error: %v)", after[0]-before[0], err)

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ec.Endpoints()[0]+"/version", nil)
	resp, err := conn.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("HTTPClient /version: %v", err)
	}
	resp.Body.Close()
}

// TestDiscoverUnstartedMembers: a learner and a voting member added to the
// member list but never started are listed and marked, not dropped — and
// the serializable member list still answers when the new voter has cost
// the cluster its quorum.
func TestDiscoverUnstartedMembers(t *testing.T) {
	ec := etcdtest.NewCluster(t)
	cli := ec.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	c := quickCluster("grow", 2*time.Second, ec.Endpoints()...)
	conn := mustConnect(t, c)
	d := Discover(ctx, c, conn)
	if !d.OK() || len(d.Members) != 2 {
		t.Fatalf("%+v", d)
	}
	learner := d.Members[0] // unnamed sorts first
	if learner.Name != "" || !learner.IsLearner || learner.Started || learner.Reachable || !strings.Contains(learner.Reason, "not started") {
		t.Errorf("learner = %+v", learner)
	}
	if m := d.Members[1]; !m.Reachable || !m.IsLeader {
		t.Errorf("running member = %+v", m)
	}

	if _, err := cli.MemberAdd(ctx, []string{"http://127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d = Discover(ctx, c, conn)
	if took := time.Since(start); took > 2*time.Second+slack {
		t.Errorf("took %s", took)
	}
	if !d.OK() || len(d.Members) != 3 {
		t.Fatalf("without quorum the member list must still be read: %+v", d)
	}
	unstarted := 0
	for _, m := range d.Members {
		if !m.Started {
			unstarted++
		}
	}
	if unstarted != 2 || !d.Members[2].Reachable {
		t.Errorf("members = %+v", d.Members)
	}
}

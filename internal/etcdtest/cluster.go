// Package etcdtest starts real etcd clusters for tests: Debian's 3.4.23, the
// 3.5.35/3.6.16/3.7.3 servers `make etcd-binaries` builds, or the 3.5 server
// in-process ("embed"). Members listen on 127.0.0.1 free ports with data dirs
// under t.TempDir(), and can be stopped, restarted on another version
// (upgrade and downgrade attempts), killed and paused, because those are the
// states an auditor meets in a real fleet. Mocks would not have taught us that
// GET /health writes to the raft log, or that 3.7 keys-only ranges drop leases.
//
// Processes never outlive the test: the constructor registers a t.Cleanup that
// kills every member, and each process gets SIGKILL from the kernel
// (Pdeathsig) if the test binary dies first, even on a timeout panic.
//
//	etcdtest.RequireVersion(t, "3.6") // skip early if the upgrade target is missing
//	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3),
//		etcdtest.WithV2(), etcdtest.WithSnapshotCount(5))
//	cli := c.Client(t) // v3, all members, root under WithAuth
//	seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Keys: 20})
//	leader, _ := c.Leader(ctx) // pause or kill a follower, not the leader
//	m := c.Members[2]
//	m.Stop()
//	err := m.Start("3.6") // "detected disallowed custom content in v2store" + log lines
//
// Binaries: 3.4 is /usr/bin/etcd (ETCDAUDIT_ETCD34 overrides), the others
// $ETCDAUDIT_ETCD_DIR/v<full>/etcd, else <module root>/.cache/etcd. A missing
// one skips the test, or fails it under CI=true; `go test -short` runs embed only.
package etcdtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// StartTimeout bounds how long a member may take to report a leader. It is
// generous because tests share two cores with -race builds.
const StartTimeout = 60 * time.Second

// Cluster is a running test cluster. Fields are read-only for tests.
type Cluster struct {
	Members []*Member
	// TLS holds the generated PEM files when WithTLS is set, nil otherwise.
	TLS *TLSFiles
	// RootPassword is the password of user root when WithAuth is set.
	RootPassword string
	// Version is the short version the cluster was created with ("3.5", "embed").
	Version string

	t         testing.TB
	cfg       config
	dir       string
	closeOnce sync.Once

	mu          sync.Mutex
	authEnabled bool
	httpClient  *http.Client
}

// NewCluster starts a cluster and waits until every member knows a leader.
// A missing binary skips the test (fails it under CI=true); `go test -short`
// skips every version but embed. Any other start failure fails the test with
// the members' log tails.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	cfg := config{version: Embed, members: 1, name: "m"}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	short := cfg.version
	RequireVersion(t, short)

	c := &Cluster{t: t, cfg: cfg, dir: t.TempDir(), Version: short}
	t.Cleanup(c.Close)
	if cfg.tls {
		tlsDir := filepath.Join(c.dir, "tls")
		if err := os.Mkdir(tlsDir, 0o700); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		var err error
		if c.TLS, err = generateTLS(tlsDir); err != nil {
			t.Fatalf("etcdtest: generate certificates: %v", err)
		}
	}

	// Ports come from :0 and are closed before etcd binds them, so another
	// process can take one in between: start again on fresh ports then.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := c.startAll(attempt)
		if err == nil {
			break
		}
		c.stopAllQuietly()
		if attempt < attempts && errors.Is(err, errPortClash) {
			t.Logf("etcdtest: a port was taken before etcd bound it (attempt %d); retrying on fresh ports", attempt)
			continue
		}
		t.Fatalf("etcdtest: start %d-member etcd %s cluster: %v", cfg.members, fullVersions[short], err)
		return nil
	}
	if cfg.auth {
		if err := c.enableAuth(); err != nil {
			t.Fatalf("etcdtest: enable auth: %v", err)
		}
	}
	return c
}

var errPortClash = errors.New("port already in use")

// reservePorts is freePorts; tests replace it to force a clash.
var reservePorts = freePorts

// startAll creates members on fresh ports (and fresh data dirs, so a failed
// attempt leaves nothing behind) and starts them together: an initial
// cluster only elects a leader once a quorum is up.
func (c *Cluster) startAll(attempt int) error {
	ports, err := reservePorts(2 * c.cfg.members)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.cfg.tls {
		scheme = "https"
	}
	c.Members = make([]*Member, c.cfg.members)
	var initial []string
	for i := range c.Members {
		name := fmt.Sprintf("%s%d", c.cfg.name, i)
		base := filepath.Join(c.dir, fmt.Sprintf("%s.%d", name, attempt))
		if err := os.MkdirAll(base, 0o700); err != nil {
			return err
		}
		m := &Member{
			Name:      name,
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			DataDir:   filepath.Join(base, "data"),
			LogFile:   filepath.Join(base, "etcd.log"),
			c:         c,
			cfg:       c.cfg,
			version:   c.cfg.version,
		}
		c.Members[i] = m
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.initialCluster = strings.Join(initial, ",")
	}
	for _, m := range c.Members {
		if err := m.launch(c.cfg.version); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	return c.WaitReady(ctx)
}

func (c *Cluster) stopAllQuietly() {
	for _, m := range c.Members {
		if m != nil {
			m.kill()
		}
	}
}

// Close kills every member (SIGKILL for processes, even paused ones; Close for
// embed) and, when the test failed, logs the tail of each member's log. It is
// registered by NewCluster and safe to call more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		if c.t.Failed() {
			for _, m := range c.Members {
				if m != nil {
					c.t.Logf("etcdtest: %s (etcd %s) log %s, last lines:\n%s", m.Name, m.FullVersion(), m.LogFile, m.LogTail(40))
				}
			}
		}
		c.closeIdleHTTP() // before stopping: an idle keep-alive slows embed's Close
		c.stopAllQuietly()
	})
}

func (c *Cluster) closeIdleHTTP() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.httpClient != nil {
		c.httpClient.CloseIdleConnections()
	}
}

// WaitReady waits until every running member reports a leader through
// Maintenance.Status. It does not call GET /health: on 3.4, and on 3.5 with
// the v2 API, that appends a raft entry, and read-only tests compare raft indexes.
func (c *Cluster) WaitReady(ctx context.Context) error {
	// The first member to fail ends the wait for the others: a peer that
	// exited (a port clash, a refused data dir) may keep them leaderless.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(c.Members))
	var wg sync.WaitGroup
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = m.WaitReady(ctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Endpoints returns every member's client URL, stopped members included.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// ClientConfig returns a client configuration for the given endpoints (all
// members when none are given): TLS with the client certificate under
// WithTLS, user root under WithAuth, a 5 s dial timeout.
func (c *Cluster) ClientConfig(endpoints ...string) clientv3.Config {
	cfg, err := c.clientConfig(endpoints...)
	if err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
	return cfg
}

// clientConfig is ClientConfig for goroutines that must not call t.Fatalf.
func (c *Cluster) clientConfig(endpoints ...string) (clientv3.Config, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	if c.TLS != nil {
		tc, err := c.TLS.ClientTLS(true)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = tc
	}
	c.mu.Lock()
	if c.authEnabled {
		cfg.Username, cfg.Password = "root", c.RootPassword
	}
	c.mu.Unlock()
	return cfg, nil
}

// Client returns a v3 client to all members (root when auth is on), closed
// when the test ends.
func (c *Cluster) Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(c.ClientConfig(endpoints...))
	if err != nil {
		t.Fatalf("etcdtest: client for %v: %v", endpoints, err)
		return nil
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// HTTPClient returns an HTTP client for the v2 API and /version, with the
// client certificate under WithTLS and a 10 s timeout. It is shared by the
// cluster's callers; Close drops its idle connections.
func (c *Cluster) HTTPClient() *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.httpClient != nil {
		return c.httpClient
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32 // seeders run 16 PUTs at once; the default 2 churns sockets
	if c.TLS != nil {
		tc, err := c.TLS.ClientTLS(true)
		if err != nil {
			c.t.Fatalf("etcdtest: %v", err)
		}
		tr.TLSClientConfig = tc
	}
	c.httpClient = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return c.httpClient
}

// Leader returns the member the running, unpaused members agree is leader.
// Tests pause or kill a follower with it: a paused leader stalls writes for
// an election timeout.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	byID := map[uint64]*Member{}
	var leader uint64
	for _, m := range c.Members {
		if !m.Running() || m.Paused() {
			continue
		}
		cfg, err := c.clientConfig(m.ClientURL)
		if err != nil {
			return nil, err
		}
		cli, err := clientv3.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("leader: client for %s: %w", m.Name, err)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		_ = cli.Close()
		if err != nil {
			return nil, fmt.Errorf("leader: status of %s: %w", m.Name, err)
		}
		byID[st.Header.MemberId] = m
		if st.Leader != 0 {
			leader = st.Leader
		}
	}
	if m, ok := byID[leader]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("leader: no running member is leader (leader id %x)", leader)
}

// enableAuth adds user root with role root and a random password, then turns
// auth on. The client certificate's CN is not root, so TLS alone does not log
// a client in.
func (c *Cluster) enableAuth() error {
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	c.RootPassword = base64.RawURLEncoding.EncodeToString(pw)
	cli, err := clientv3.New(c.ClientConfig())
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", c.RootPassword); err != nil {
		return fmt.Errorf("add user root: %w", err)
	}
	if _, err := cli.RoleAdd(ctx, "root"); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("add role root: %w", err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		return fmt.Errorf("grant role root: %w", err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		return fmt.Errorf("auth enable: %w", err)
	}
	c.mu.Lock()
	c.authEnabled = true
	c.mu.Unlock()
	return nil
}

// freePorts reserves n distinct loopback ports by listening on :0, then frees
// them for etcd to bind.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// ErrInProcess is returned by Kill, Pause and Resume on embed members:
// signals cannot target the test's own process. A test that needs them on
// every version skips on it: if errors.Is(err, etcdtest.ErrInProcess) { t.Skip(err) }.
var ErrInProcess = errors.New("not supported in-process (embed); use a binary version")

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL. etcd's
// own shutdown may legitimately take two request timeouts (7 s each with
// default flags: http then gRPC) when a client keeps a connection busy.
const stopTimeout = 30 * time.Second

// Member is one etcd server of a Cluster. Name, URLs and paths never change:
// a restart, on any version, reuses them.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	LogFile   string

	c              *Cluster
	cfg            config // the cluster's options, as changed by StartWith
	initialCluster string
	joining        bool // added to a running cluster: --initial-cluster-state=existing
	addedAsLearner bool // by AddMember; a test may have promoted it since

	mu      sync.Mutex
	version string   // short version last started
	proc    *process // running process, nil when stopped or embed
	emb     *embed.Etcd
	paused  bool
}

// Version returns the short version the member runs (or last ran).
func (m *Member) Version() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

// FullVersion returns the exact release the member runs (or last ran).
func (m *Member) FullVersion() string {
	return fullVersions[m.Version()]
}

// Running reports whether the member has a live process or in-process server
// (paused counts as running).
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runningLocked()
}

func (m *Member) runningLocked() bool {
	if m.emb != nil {
		return true
	}
	if m.proc == nil {
		return false
	}
	select {
	case <-m.proc.done:
		return false
	default:
		return true
	}
}

// Start starts a stopped member on the same data dir, URLs and flags, with
// version's server ("" keeps the current one): an upgrade or a downgrade
// attempt. --enable-v2 is dropped for 3.6+, which no longer has it. It waits
// until the member knows a leader; if the server exits first (3.6 refusing v2
// data, a panic) the error carries the exit status and the log tail. A
// missing binary is an error wrapping ErrMissingBinary: call RequireVersion
// at the top of the test to skip instead.
func (m *Member) Start(version string) error {
	if version == "" {
		version = m.Version()
	}
	short, err := shortVersion(version)
	if err != nil {
		return err
	}
	if m.Running() {
		return fmt.Errorf("start %s: already running etcd %s", m.Name, m.FullVersion())
	}
	// A restart keeps the member's ports, and a port freed by the stop can be
	// held for a moment by another socket (another test's outgoing
	// connection given it as its local port): such a clash is retried.
	for attempt := 1; ; attempt++ {
		if err := m.launch(short); err != nil {
			return fmt.Errorf("start %s on etcd %s: %w", m.Name, fullVersions[short], err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		err := m.WaitReady(ctx)
		cancel()
		if err == nil {
			return nil
		}
		m.kill()
		if !errors.Is(err, errPortClash) || attempt == restartClashAttempts {
			return fmt.Errorf("start %s on etcd %s: %w", m.Name, fullVersions[short], err)
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
}

// restartClashAttempts bounds Start's retries on a port clash (about 10 s
// of waiting in all).
const restartClashAttempts = 6

// StartWith is Start with changed server options for this member, kept for
// its later starts: the rolling restarts of an upgrade procedure (drop the v2
// API with WithoutV2, force snapshots with WithSnapshotCount, add WithFlags).
// Only those three options have an effect here.
func (m *Member) StartWith(version string, opts ...Option) error {
	if m.Running() {
		return fmt.Errorf("start %s: already running etcd %s", m.Name, m.FullVersion())
	}
	m.mu.Lock()
	cfg := m.cfg
	for _, o := range opts {
		o(&cfg)
	}
	m.cfg.v2, m.cfg.snapshotCount, m.cfg.flags = cfg.v2, cfg.snapshotCount, cfg.flags
	m.mu.Unlock()
	return m.Start(version)
}

// launch starts the server without waiting for readiness.
func (m *Member) launch(short string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version = short
	m.paused = false
	if short == Embed {
		return m.startEmbedLocked()
	}
	return m.startProcessLocked(short)
}

// Stop stops the member gracefully: SIGTERM (after SIGCONT if paused), then
// SIGKILL if it has not exited within 30 s. Stopping a stopped member is a
// no-op. etcd waits up to its request timeout (7 s) for busy client
// connections, twice; Stop drops the idle ones of HTTPClient, so close your
// own HTTP clients' idle connections first for a fast stop.
func (m *Member) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.emb != nil {
		m.c.closeIdleHTTP()
		closeEmbed(m.emb)
		m.emb = nil
		return nil
	}
	p := m.proc
	if p == nil || !m.runningLocked() {
		m.proc = nil
		return nil
	}
	if m.paused {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT)
		m.paused = false
	}
	// A keep-alive v2 connection holds etcd's http.Server.Shutdown for its
	// full request timeout; drop ours first.
	m.c.closeIdleHTTP()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", m.Name, err)
	}
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 5*time.Second {
			m.c.t.Logf("etcdtest: stopping %s took %s: a client connection kept etcd's graceful shutdown waiting", m.Name, d.Round(time.Millisecond))
		}
	}()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		m.proc = nil
		return fmt.Errorf("stop %s: no exit %s after SIGTERM; killed", m.Name, stopTimeout)
	}
	m.proc = nil
	return nil
}

// Kill sends SIGKILL to the member's process group and waits for it to exit:
// a crash, with no chance to flush or leave the cluster. On embed it returns
// ErrInProcess.
func (m *Member) Kill() error {
	if m.Version() == Embed {
		return fmt.Errorf("etcdtest: kill %s: %w", m.Name, ErrInProcess)
	}
	m.kill()
	return nil
}

// kill stops the member as fast as possible, whatever its state.
func (m *Member) kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.emb != nil {
		closeEmbed(m.emb)
		m.emb = nil
		return
	}
	if p := m.proc; p != nil {
		// SIGKILL works on a SIGSTOPped process too.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
		<-p.done
		m.proc = nil
	}
	m.paused = false
}

// Pause freezes the member with SIGSTOP: it keeps its TCP sockets open but
// answers nothing, like a hung host. Calls to it hit their deadlines. On
// embed it returns ErrInProcess.
func (m *Member) Pause() error { return m.signal("Pause", syscall.SIGSTOP, true) }

// Resume continues a paused member with SIGCONT.
func (m *Member) Resume() error { return m.signal("Resume", syscall.SIGCONT, false) }

func (m *Member) signal(op string, sig syscall.Signal, paused bool) error {
	if m.Version() == Embed {
		return fmt.Errorf("etcdtest: %s %s: %w", strings.ToLower(op), m.Name, ErrInProcess)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() {
		return fmt.Errorf("%s %s: not running", strings.ToLower(op), m.Name)
	}
	pid := m.proc.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(op), m.Name, err)
	}
	m.paused = paused
	// kill(2) returns before every thread has stopped; a request already in
	// flight could still be answered. Return once the whole process is frozen
	// (or running again), so a test's next call sees the state it asked for.
	deadline := time.Now().Add(5 * time.Second)
	for threadsStopped(pid) != paused {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s: process %d did not change state within 5s", strings.ToLower(op), m.Name, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// PID returns the server's process id, 0 for embed or a stopped member.
func (m *Member) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() || m.proc == nil {
		return 0
	}
	return m.proc.cmd.Process.Pid
}

// Paused reports whether the member is SIGSTOPped.
func (m *Member) Paused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}

// RestoreFlags are the flags `etcdutl snapshot restore` (3.4: `etcdctl
// snapshot restore`) needs to rebuild this member's data dir as a member of
// the same cluster: name, initial cluster, token and peer URL. Every member
// restored from one snapshot with its own RestoreFlags forms a new cluster.
func (m *Member) RestoreFlags() []string {
	return []string{
		"--name=" + m.Name,
		"--initial-cluster=" + m.initialCluster,
		"--initial-cluster-token=" + m.cfg.name + "-cluster",
		"--initial-advertise-peer-urls=" + m.PeerURL,
	}
}

// Flags returns the raw server flags the member's next start adds (WithFlags).
func (m *Member) Flags() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.cfg.flags...)
}

// Client returns a v3 client to this member only, closed when the test ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return m.c.Client(t, m.ClientURL)
}

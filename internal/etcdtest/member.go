package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
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
	initialCluster string

	mu      sync.Mutex
	version string   // short version last started
	proc    *process // running process, nil when stopped or embed
	emb     *embed.Etcd
	paused  bool
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
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
	if err := m.launch(short); err != nil {
		return fmt.Errorf("start %s on etcd %s: %w", m.Name, fullVersions[short], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		m.kill()
		return fmt.Errorf("start %s on etcd %s: %w", m.Name, fullVersions[short], err)
	}
	return nil
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

// args builds the server command line for a version.
func (m *Member) args(short string) []string {
	cfg := m.c.cfg
	a := []string{
		"--name=" + m.Name,
		"--data-dir=" + m.DataDir,
		"--listen-client-urls=" + m.ClientURL,
		"--advertise-client-urls=" + m.ClientURL,
		"--listen-peer-urls=" + m.PeerURL,
		"--initial-advertise-peer-urls=" + m.PeerURL,
		"--initial-cluster=" + m.initialCluster,
		"--initial-cluster-state=new",
		"--initial-cluster-token=" + cfg.name + "-cluster",
		"--logger=zap",
		"--log-outputs=stderr",
	}
	if cfg.snapshotCount > 0 {
		a = append(a, "--snapshot-count="+strconv.FormatUint(cfg.snapshotCount, 10))
	}
	if cfg.v2 && !minorAtLeast(short, 6) {
		a = append(a, "--enable-v2=true")
	}
	// fsync is what makes seeding slow on a shared disk; the page cache
	// survives SIGKILL, and no test crashes the machine. 3.4 lacks the flag.
	if minorAtLeast(short, 5) {
		a = append(a, "--unsafe-no-fsync=true")
	}
	if t := m.c.TLS; t != nil {
		a = append(a, "--cert-file="+t.ServerCert, "--key-file="+t.ServerKey,
			"--client-cert-auth=true", "--trusted-ca-file="+t.CA)
	}
	return append(a, cfg.flags...)
}

func (m *Member) startProcessLocked(short string) error {
	bin, err := FindBinary(short)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fmt.Fprintf(logf, startMarker+"%s starting etcd %s: %s %s\n", time.Now().Format(time.RFC3339Nano),
		fullVersions[short], bin, strings.Join(m.args(short), " "))
	cmd := exec.Command(bin, m.args(short)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = serverEnv()
	// Setpgid keeps a terminal's Ctrl-C from reaching etcd before the
	// cleanup does; Pdeathsig kills etcd if the test binary dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		_ = logf.Close()
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	m.proc = p
	return nil
}

// serverEnv drops ETCD_* variables: etcd reads them as flags, and a developer's
// shell must not change the servers a test starts.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// spawnReqs feeds the one goroutine that forks etcd processes. Pdeathsig fires
// when the parent THREAD exits, and the Go runtime may retire threads; that
// goroutine holds its thread locked for the life of the test binary, so
// a server dies with the binary and not before.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the binary
			for r := range spawnReqs {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnReqs <- r
	return <-r.err
}

// exitError describes how a process ended, for error messages.
func (p *process) exitError() string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
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
		m.emb.Close()
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
		m.emb.Close()
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

// threadsStopped reports whether every thread of pid is in state T (stopped).
func threadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the parenthesised command name.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
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

// Client returns a v3 client to this member only, closed when the test ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return m.c.Client(t, m.ClientURL)
}

// WaitReady polls Maintenance.Status on this member until it reports a
// leader, the process exits (error with its log tail) or ctx ends.
func (m *Member) WaitReady(ctx context.Context) error {
	cfg, err := m.c.clientConfig(m.ClientURL)
	if err != nil {
		return err
	}
	cfg.DialTimeout = 2 * time.Second
	cfg.Logger = zap.NewNop()
	var cli *clientv3.Client
	defer func() {
		if cli != nil {
			_ = cli.Close()
		}
	}()
	var last error
	for {
		if err := m.exited(); err != nil {
			return err
		}
		if cli == nil {
			c, err := clientv3.New(cfg)
			if err != nil {
				last = err
			} else {
				cli = c
			}
		}
		if cli != nil {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, m.ClientURL)
			cancel()
			if err == nil && st.Leader != 0 {
				return nil
			}
			if err == nil {
				err = errors.New("no leader yet")
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (etcd %s) not ready: %w (last: %v)\n%s", m.Name, m.FullVersion(), ctx.Err(), last, m.tailBlock())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exited returns an error with the exit status and log tail if the member's
// process has ended, nil while it runs.
func (m *Member) exited() error {
	m.mu.Lock()
	p, emb := m.proc, m.emb
	m.mu.Unlock()
	if emb != nil {
		select {
		case err := <-emb.Err():
			return fmt.Errorf("%s (embed) failed: %w\n%s", m.Name, err, m.tailBlock())
		default:
			return nil
		}
	}
	if p == nil {
		return fmt.Errorf("%s is not running", m.Name)
	}
	select {
	case <-p.done:
		err := fmt.Errorf("%s (etcd %s) exited: %s\n%s", m.Name, m.FullVersion(), p.exitError(), m.tailBlock())
		if strings.Contains(m.LogTail(20), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortClash, err)
		}
		return err
	default:
		return nil
	}
}

// tailBlock is what a start error shows of the log: the error, panic and
// fatal lines of the latest run (a Go panic's stack trace pushes the message
// out of any short tail), then the last lines.
func (m *Member) tailBlock() string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log %s: %v)", m.LogFile, err)
	}
	if i := bytes.LastIndex(b, []byte(startMarker)); i >= 0 {
		b = b[i:]
	}
	var important []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.Contains(l, `"level":"panic"`) ||
			strings.Contains(l, `"level":"fatal"`) || strings.Contains(l, `"level":"error"`) {
			if i := strings.Index(l, `,"stacktrace":`); i >= 0 {
				l = l[:i] + "}"
			}
			important = append(important, l)
		}
	}
	if len(important) > 8 {
		important = important[len(important)-8:]
	}
	out := "--- " + m.LogFile + " ---\n"
	if len(important) > 0 {
		out += "errors:\n" + strings.Join(important, "\n") + "\nlast lines:\n"
	}
	return out + m.LogTail(15)
}

// startMarker opens each run's section of a process member's log.
const startMarker = "=== etcdtest: "

// LogTail returns the last n lines of the member's log file.
func (m *Member) LogTail(n int) string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

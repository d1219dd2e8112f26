package etcdtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a running etcd server process. A single goroutine Waits for it
// and closes done, so every other path only reads.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
}

// clusterState is the --initial-cluster-state a member starts with; etcd
// ignores it once the data dir holds a WAL.
func (m *Member) clusterState() string {
	if m.joining {
		return "existing"
	}
	return "new"
}

// args builds the server command line for a version.
func (m *Member) args(short string) []string {
	cfg := m.cfg
	a := []string{
		"--name=" + m.Name,
		"--data-dir=" + m.DataDir,
		"--listen-client-urls=" + m.ClientURL,
		"--advertise-client-urls=" + m.ClientURL,
		"--listen-peer-urls=" + m.PeerURL,
		"--initial-advertise-peer-urls=" + m.PeerURL,
		"--initial-cluster=" + m.initialCluster,
		"--initial-cluster-state=" + m.clusterState(),
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
	if cfg.auth {
		a = append(a, "--bcrypt-cost="+strconv.Itoa(bcryptCost))
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

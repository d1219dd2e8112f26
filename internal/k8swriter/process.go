package k8swriter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/gobuild"
)

// Remote drives a writer process through its control socket (the path).
// It has the methods of hoststub.Writer, so a test hands it to
// Host.SetWriter and the inventory's stop_writers, start_writers and
// set_backend hooks reach the real process.
type Remote string

// StopWriters sends "stop": when it returns no write is in flight.
func (r Remote) StopWriters(ctx context.Context) error {
	_, err := Control(ctx, string(r), "stop")
	return err
}

// StartWriters sends "start".
func (r Remote) StartWriters(ctx context.Context) error {
	_, err := Control(ctx, string(r), "start")
	return err
}

// SetBackend sends "backend B".
func (r Remote) SetBackend(ctx context.Context, backend string) error {
	_, err := Control(ctx, string(r), "backend", backend)
	return err
}

// ProcessConfig is what StartProcess passes to `k8swriter run`.
type ProcessConfig struct {
	Endpoints []string
	Backend   Backend       // default etcd2
	Rate      float64       // writes per second, default 20
	EventTTL  time.Duration // default 1 h
	Running   bool          // write at once, else wait for StartWriters
}

// Process is a running `k8swriter run`, stopped at the test's cleanup.
type Process struct {
	Remote
	// Log is the writer's log of acknowledged writes (JSON lines, Ack);
	// Output its stdout and stderr.
	Log, Output string

	cmd  *exec.Cmd
	done chan struct{}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds the k8swriter command once per test binary with `go build`
// (the build cache makes later builds cheap) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("k8swriter: build: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	out, err := os.MkdirTemp("", "k8swriter-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(out, "k8swriter")
	if err := gobuild.Build("./internal/k8swriter/cmd/k8swriter", bin); err != nil {
		_ = os.RemoveAll(out)
		return "", err
	}
	return bin, nil
}

// StartProcess starts `k8swriter run` with its log, output and control
// socket in fresh temporary directories, and waits until its control
// socket answers. The process gets SIGTERM at cleanup (SIGKILL after 10 s)
// and SIGKILL if the test binary dies first.
func StartProcess(t testing.TB, cfg ProcessConfig) *Process {
	t.Helper()
	bin := Binary(t)
	if cfg.Backend == "" {
		cfg.Backend = Etcd2
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.EventTTL <= 0 {
		cfg.EventTTL = time.Hour
	}
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "kw") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	p := &Process{
		Remote: Remote(filepath.Join(sockDir, "w.sock")),
		Log:    filepath.Join(dir, "writes.jsonl"),
		Output: filepath.Join(dir, "output.log"),
		done:   make(chan struct{}),
	}
	args := []string{"run", "--endpoints", strings.Join(cfg.Endpoints, ","), "--backend", string(cfg.Backend),
		"--rate", fmt.Sprint(cfg.Rate), "--event-ttl", cfg.EventTTL.String(), "--log", p.Log, "--control", string(p.Remote)}
	if cfg.Running {
		args = append(args, "--running")
	}
	out, err := os.Create(p.Output)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the parent THREAD exits: the thread that starts
	// the writer stays locked to a goroutine that lives until the writer
	// has exited.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = p.cmd.Wait()
		close(exited)
		<-p.done
	}()
	if err := <-started; err != nil {
		_ = out.Close()
		t.Fatalf("k8swriter: start: %v", err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
		close(p.done)
		_ = out.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := Control(ctx, string(p.Remote), "status")
		cancel()
		if err == nil {
			return p
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(p.Output)
			t.Fatalf("k8swriter exited before answering on its control socket: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("k8swriter: control socket: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Status returns the writer's status line ("ok running=… backend=…
// acked=N failed=M").
func (p *Process) Status(ctx context.Context) (string, error) {
	return Control(ctx, string(p.Remote), "status")
}

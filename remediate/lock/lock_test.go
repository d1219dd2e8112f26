package lock_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/remediate/lock"
)

const (
	childEnv    = "ETCDAUDIT_LOCK_CHILD_DIR"
	childEtcd   = "ETCDAUDIT_LOCK_CHILD_ETCD"
	childTTLEnv = "ETCDAUDIT_LOCK_CHILD_TTL"
)

func heldBy(t *testing.T, err error) *lock.HeldError {
	t.Helper()
	var he *lock.HeldError
	if !errors.Is(err, lock.ErrHeld) || !errors.As(err, &he) {
		t.Fatalf("second acquire: %v, want a *HeldError", err)
	}
	return he
}

func TestFileLock(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	a, err := lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-a", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-b", StateDir: dir})
	he := heldBy(t, err)
	if he.Holder.Holder != "run-a" || he.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "run-a (host ") {
		t.Errorf("holder %+v; %v", he.Holder, err)
	}
	other, err := lock.Acquire(ctx, lock.Options{Cluster: "c2", Holder: "run-c", StateDir: dir})
	if err != nil {
		t.Fatalf("another cluster's lock: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	b, err := lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-b", StateDir: dir})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	_ = b.Release(ctx)
	_ = other.Release(ctx)
	for _, bad := range []string{"", "../etc", "a/b"} {
		if _, err := lock.Acquire(ctx, lock.Options{Cluster: bad, StateDir: dir}); err == nil || errors.Is(err, lock.ErrHeld) {
			t.Errorf("cluster %q: %v", bad, err)
		}
	}
}

// TestLockChild holds a lock until killed: file lock in the directory of
// childEnv, or the coordination etcd at childEtcd.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("child process of the kill -9 tests")
	}
	o := lock.Options{Cluster: "c1", Holder: "child-run", StateDir: dir}
	if ep := os.Getenv(childEtcd); ep != "" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		o.Etcd = cli
		ttl, _ := strconv.Atoi(os.Getenv(childTTLEnv))
		o.TTL = time.Duration(ttl) * time.Second
	}
	if _, err := lock.Acquire(context.Background(), o); err != nil {
		os.Stdout.WriteString("ERR " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("LOCKED\n")
	time.Sleep(5 * time.Minute)
}

// startHolder starts a child that takes the lock, and waits for it to say so.
func startHolder(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
	}()
	select {
	case l := <-line:
		if l != "LOCKED" {
			t.Fatalf("child: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child did not take the lock")
	}
	return cmd
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestFileLockHolderKilled: a holder killed with -9 leaves the lock file
// behind with its details, but not the lock.
func TestFileLockHolderKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := startHolder(t, childEnv+"="+dir)
	_, err := lock.Acquire(t.Context(), lock.Options{Cluster: "c1", Holder: "parent", StateDir: dir})
	if he := heldBy(t, err); he.Holder.PID != cmd.Process.Pid || he.Holder.Holder != "child-run" {
		t.Errorf("holder %+v, want the child (pid %d)", he.Holder, cmd.Process.Pid)
	}
	kill9(t, cmd)
	l, err := lock.Acquire(t.Context(), lock.Options{Cluster: "c1", Holder: "parent", StateDir: dir})
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	_ = l.Release(t.Context())
}

func TestEtcdLock(t *testing.T) {
	c := etcdtest.NewCluster(t)
	cli := c.Client(t)
	ctx := t.Context()
	a, err := lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-a", Etcd: cli, TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-b", Etcd: c.Client(t), TTL: 5 * time.Second})
	he := heldBy(t, err)
	if he.Holder.Holder != "run-a" || he.Holder.PID != os.Getpid() || he.Expires <= 0 || !strings.Contains(err.Error(), "lease expires within") {
		t.Errorf("holder %+v expires %s; %v", he.Holder, he.Expires, err)
	}
	// The failed attempt leaves no waiter key behind: after a's release b gets it.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := cli.Get(ctx, lock.DefaultPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || keys.Count != 0 {
		t.Errorf("keys left after release: %v %v", keys.Count, err)
	}
	b, err := lock.Acquire(ctx, lock.Options{Cluster: "c1", Holder: "run-b", Etcd: cli})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// A revoked lease (the coordination etcd lost us) closes Lost.
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		if _, err := cli.Revoke(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("Lost not closed after the lease was revoked")
	}
	_ = b.Release(ctx)
}

// TestEtcdLockHolderKilled: a holder killed with -9 keeps the lock until its
// lease expires, then the next acquirer gets it.
func TestEtcdLockHolderKilled(t *testing.T) {
	c := etcdtest.NewCluster(t)
	cli := c.Client(t)
	cmd := startHolder(t, childEnv+"="+t.TempDir(), childEtcd+"="+c.Members[0].ClientURL, childTTLEnv+"=3")
	o := lock.Options{Cluster: "c1", Holder: "parent", Etcd: cli, TTL: 3 * time.Second}
	_, err := lock.Acquire(t.Context(), o)
	if he := heldBy(t, err); he.Holder.PID != cmd.Process.Pid {
		t.Errorf("holder %+v, want the child (pid %d)", he.Holder, cmd.Process.Pid)
	}
	kill9(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := lock.Acquire(t.Context(), o)
		if err == nil {
			_ = l.Release(t.Context())
			return
		}
		heldBy(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("lock still held 30s after its holder died: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package etcdtest_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestNoOrphans runs a child test binary that starts servers (one paused),
// records their PIDs and then dies by SIGKILL, so no cleanup runs. The
// kernel's Pdeathsig must still take every server down.
func TestNoOrphans(t *testing.T) {
	if os.Getenv("ETCDTEST_ORPHAN_PIDS") != "" {
		t.Skip("inside the child")
	}
	etcdtest.RequireVersion(t, "3.4")
	etcdtest.RequireVersion(t, "3.5")
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestOrphanChild$", "-test.v")
	cmd.Env = append(os.Environ(), "ETCDTEST_ORPHAN_PIDS="+pidFile)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want death by SIGKILL; output tail:\n%s", err, tail(out))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child wrote no pids: %v; output tail:\n%s", err, tail(out))
	}
	pids := strings.Fields(string(b))
	if len(pids) != 4 {
		t.Fatalf("pids %q, want 4", pids)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("etcd pid %d outlived its test binary", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestOrphanChild is TestNoOrphans' child: it only runs under that variable.
func TestOrphanChild(t *testing.T) {
	pidFile := os.Getenv("ETCDTEST_ORPHAN_PIDS")
	if pidFile == "" {
		t.Skip("run by TestNoOrphans")
	}
	a := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	b := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"))
	if err := a.Members[2].Pause(); err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, m := range append(a.Members, b.Members...) {
		pids = append(pids, strconv.Itoa(m.PID()))
	}
	if err := os.WriteFile(pidFile, []byte(strings.Join(pids, " ")), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

// alive reports whether pid exists and is not a zombie waiting for init.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

package hoststub_test

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
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

// TestNoOrphansAfterHookRestart runs a child test binary that starts a
// cluster, restarts a member through the stop/start hooks (so that server was
// started by the supervisor while serving testhost), records the PIDs and
// dies by SIGKILL: every server must die with it.
func TestNoOrphansAfterHookRestart(t *testing.T) {
	if os.Getenv("HOSTSTUB_ORPHAN_PIDS") != "" {
		t.Skip("inside the child")
	}
	etcdtest.RequireVersion(t, "3.5")
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHookOrphanChild$", "-test.v")
	cmd.Env = append(os.Environ(), "HOSTSTUB_ORPHAN_PIDS="+pidFile)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want death by SIGKILL; output tail:\n%s", err, tail(out))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child wrote no pids: %v; output tail:\n%s", err, tail(out))
	}
	pids := strings.Fields(string(b))
	if len(pids) != 3 {
		t.Fatalf("pids %q, want 3", pids)
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

// TestHookOrphanChild is TestNoOrphansAfterHookRestart's child.
func TestHookOrphanChild(t *testing.T) {
	pidFile := os.Getenv("HOSTSTUB_ORPHAN_PIDS")
	if pidFile == "" {
		t.Skip("run by TestNoOrphansAfterHookRestart")
	}
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	r := hooks.NewRunner(h.Hooks(t), hooks.Options{})
	m := h.Cluster.Members[2]
	before := m.PID()
	for _, name := range []string{hooks.StopMember, hooks.StartMember} {
		if res, err := r.Run(t.Context(), name, hooks.Vars{Member: m.Name}); err != nil {
			t.Fatalf("%v: %s", err, res.Output)
		}
	}
	if m.PID() == before || m.PID() == 0 {
		t.Fatalf("member not restarted: pid %d, before %d", m.PID(), before)
	}
	var pids []string
	for _, m := range h.Cluster.Members {
		pids = append(pids, strconv.Itoa(m.PID()))
	}
	if err := os.WriteFile(pidFile, []byte(strings.Join(pids, " ")), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
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

package main

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/gobuild"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// syncBuf is a bytes.Buffer safe for a child process writing while the test reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// buildEtcdaudit builds this command into dir: the demo's hooks exec the
// binary that runs the demo, as they do for a user.
func buildEtcdaudit(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "etcdaudit")
	if err := gobuild.Build("./cmd/etcdaudit", out); err != nil {
		t.Fatalf("build etcdaudit: %v", err)
	}
	return out
}

// TestDemoRemediationWalkthrough runs the walk-through of docs/remediation.md
// ("Try it on the demo fleet") against a real `etcdaudit demo --keep`: plan
// the legacy cluster's v2 migration, apply it with the kubelets fault set
// (the run halts after the backend switch, as the verify hook says), clear
// the fault, resume (done: every v2 key in v3, the v2 store empty), scan and
// drift (the run id beside the change), then roll back (v2 exactly as it
// was, no copied key left in v3, the API servers back on etcd2).
func TestDemoRemediationWalkthrough(t *testing.T) {
	tmp := t.TempDir()
	bin := buildEtcdaudit(t, tmp)
	dir := filepath.Join(tmp, "demo")
	var demoOut syncBuf
	demoCmd := exec.Command(bin, "demo", "--keep", "--dir", dir)
	demoCmd.Stdout, demoCmd.Stderr = &demoOut, &demoOut
	if err := demoCmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- demoCmd.Wait() }()
	t.Cleanup(func() {
		_ = demoCmd.Process.Signal(syscall.SIGINT)
		stopAsked := time.Now()
		defer func() { t.Logf("demo stopped %s after SIGINT", time.Since(stopAsked).Round(time.Millisecond)) }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("demo exit: %v\n%s", err, demoOut.String())
			}
		case <-time.After(3 * time.Minute):
			_ = demoCmd.Process.Signal(syscall.SIGQUIT) // its goroutines, to see where it hangs
			time.Sleep(2 * time.Second)
			_ = demoCmd.Process.Kill()
			out := demoOut.String()
			t.Errorf("demo did not stop on SIGINT:\n%s", out[max(0, len(out)-20000):])
		}
	})
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(demoOut.String(), "Press Ctrl-C to stop it.") {
		select {
		case err := <-exited:
			t.Fatalf("demo exited: %v\n%s", err, demoOut.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready after 3 min:\n%s", demoOut.String())
		}
	}
	fleet, baseline, state := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "baseline.yaml"), filepath.Join(dir, "state")
	planPath := filepath.Join(dir, "plan.json")
	inv, err := inventory.Load(fleet)
	if err != nil {
		t.Fatal(err)
	}
	var endpoints []string
	for _, c := range inv.Clusters {
		if c.Name == "legacy" {
			endpoints = c.Endpoints
		}
	}
	ctx := t.Context()
	before := v2Values(t, ctx, endpoints)
	if len(before) < 40 {
		t.Fatalf("legacy holds %d v2 keys", len(before))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	v3Registry := func() int64 {
		t.Helper()
		r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return r.Count
	}
	must := func(wantCode int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, wantCode, stdout, stderr)
		}
		return stdout + stderr
	}

	must(100, "scan", "-f", fleet, "--data", baseline, "--state-dir", state, "--report", "json:"+filepath.Join(dir, "before.json"))
	out := must(0, "remediate", "plan", "-f", fleet, "--data", baseline, "--clusters", "legacy", "--state-dir", state, "-o", planPath, "--color", "never")
	for _, w := range []string{"v2-dump", "stop-writers", "v2-copy", "switch-backend", "v2-cleanup", "6 steps in 1 clusters", "demo hook --dir " + dir + " set_backend legacy etcd3"} {
		if !strings.Contains(out, w) {
			t.Errorf("plan lacks %q:\n%s", w, out)
		}
	}

	must(0, "demo", "hook", "--dir", dir, "kubelets", "legacy", "notready")
	out = must(1, "remediate", "apply", "-f", fleet, "--data", baseline, "--plan", planPath, "--approve", "--state-dir", state)
	m := regexp.MustCompile(`run (\S+): 1 clusters`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "step 5/6 switch-backend: FAILED") || !strings.Contains(out, "kubelets NotReady") {
		t.Fatalf("apply did not halt at the backend switch:\n%s", out)
	}
	run := m[1]
	if out := must(0, "demo", "hook", "--dir", dir, "status", "legacy"); !strings.Contains(out, "running true, --storage-backend=etcd3") {
		t.Errorf("after the halted apply: %s", out)
	}

	must(0, "demo", "hook", "--dir", dir, "kubelets", "legacy", "ready")
	out = must(0, "remediate", "resume", run, "-f", fleet, "--data", baseline, "--approve", "--state-dir", state)
	if !strings.Contains(out, "run "+run+": done") || strings.Contains(out, "step 3/6") || !strings.Contains(out, "no regression") ||
		!strings.Contains(out, "set kubernetes_backend: etcd3") {
		t.Errorf("resume:\n%s", out)
	}
	if n := v3Registry(); n != int64(len(before)) {
		t.Errorf("v3 /registry/ holds %d keys after the migration, v2 had %d", n, len(before))
	}
	for k, v := range before {
		r, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != v {
			t.Errorf("v3 %s = %v, want the v2 value", k, r.Kvs)
		}
	}
	if left := v2Values(t, ctx, endpoints); len(left) != 0 {
		t.Errorf("v2 still holds %d keys after the cleanup", len(left))
	}

	// What the re-scan's note asks: the inventory declares etcd3 now.
	b, err := os.ReadFile(fleet)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "name: legacy")
	j := strings.Index(string(b)[i:], "kubernetes_backend: etcd2")
	if i < 0 || j < 0 {
		t.Fatalf("the demo inventory declares no etcd2 backend for legacy:\n%s", b)
	}
	j += i
	b = []byte(string(b[:j]) + "kubernetes_backend: etcd3" + string(b[j+len("kubernetes_backend: etcd2"):]))
	if err := os.WriteFile(fleet, b, 0o600); err != nil {
		t.Fatal(err)
	}
	must(100, "scan", "-f", fleet, "--data", baseline, "--state-dir", state, "--report", "json:"+filepath.Join(dir, "after.json"))
	out = must(0, "drift", "--state-dir", state)
	for _, w := range []string{
		"backend_changed", "etcd2 → etcd3", "← remediation run " + run + " (migrate-v2-to-v3, switch-backend, cleanup-v2, approved by ",
		"Remediation runs between the scans (1)", "ETCD-V2-001",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("drift lacks %q:\n%s", w, out)
		}
	}

	out = must(0, "remediate", "rollback", run, "-f", fleet, "--state-dir", state)
	if !strings.Contains(out, "run "+run+": rolled back") {
		t.Errorf("rollback:\n%s", out)
	}
	if after := v2Values(t, ctx, endpoints); !maps.Equal(before, after) {
		t.Errorf("v2 after rollback: %d keys, before %d (differ)", len(after), len(before))
	}
	if n := v3Registry(); n != 0 {
		t.Errorf("v3 /registry/ holds %d keys after the rollback", n)
	}
	if out := must(0, "demo", "hook", "--dir", dir, "verify", "legacy"); !strings.Contains(out, "API servers on etcd2 see /registry") {
		t.Errorf("verify after rollback: %s", out)
	}
	if out := must(0, "remediate", "status", run, "--state-dir", state); !strings.Contains(out, "rolled-back") {
		t.Errorf("status: %s", out)
	}
}

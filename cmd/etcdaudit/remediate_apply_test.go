package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/remediate/lock"
)

// TestRemediateCLIEndToEnd: plan, apply --approve and status through the
// CLI on a real 3.6 member driven by the hooks of its inventory, with the
// lock in the coordination etcd of the inventory's lock section.
func TestRemediateCLIEndToEnd(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	h := hoststub.Start(t, etcdtest.WithVersion("3.6"))
	fleet := h.Inventory(t, "cli")
	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--color", "never")
	if code != 0 || !strings.Contains(stdout, "member-upgrade m0 3.6.16 -> 3.7.3") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(h.Ops()) != 0 {
		t.Fatalf("plan ran hooks: %v", h.Ops())
	}
	// The per-cluster lock lives in the inventory's coordination etcd (TLS
	// and auth of its own): while another remediator holds it there, apply
	// refuses and names the holder; released, apply runs.
	coord := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithTLS(), etcdtest.WithAuth())
	pw := filepath.Join(dir, "lock-password")
	if err := os.WriteFile(pw, []byte(coord.RootPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := os.ReadFile(fleet)
	if err != nil {
		t.Fatal(err)
	}
	inv = fmt.Appendf(inv, "lock:\n  endpoints: [%s]\n  tls: {ca: %s, cert: %s, key: %s}\n  auth: {user: root, password_file: %s}\n",
		coord.Endpoints()[0], coord.TLS.CA, coord.TLS.ClientCert, coord.TLS.ClientKey, pw)
	if err := os.WriteFile(fleet, inv, 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := lock.Acquire(t.Context(), lock.Options{Cluster: "cli", Holder: "the other run", Etcd: coord.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code != 1 || !strings.Contains(stderr, "the other run") || len(h.Ops()) != 0 {
		t.Fatalf("apply while the coordination etcd's lock is held: exit %d, hooks %v\n%s\n%s", code, h.Ops(), stdout, stderr)
	}
	if err := held.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`run (\S+): done`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("apply output names no finished run:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(t, "remediate", "status", m[1], "--state-dir", state)
	if code != 0 || !strings.Contains(stdout, "run "+m[1]+": done") || !strings.Contains(stdout, "cli/upgrade/3.6-3.7/member/m0") || !strings.Contains(stdout, "backup ") {
		t.Errorf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "remediate", "status", "--state-dir", state)
	if code != 0 || !strings.Contains(stdout, m[1]) {
		t.Errorf("status list: exit %d\n%s", code, stdout)
	}
	// The same plan again: the fleet has moved on, so it is stale.
	code, _, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code != 1 || !strings.Contains(stderr, "stale plan") || !strings.Contains(stderr, "version 3.6.16 -> 3.7.3") {
		t.Errorf("reapplied plan: exit %d %s", code, stderr)
	}
}

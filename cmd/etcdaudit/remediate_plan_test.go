package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/remediate"
)

// planFleet is an inventory for the demo facts' clusters with a host hook
// set (the commands are never run by plan).
const planFleet = `name: demo
defaults:
  hooks:
    stop_member: [/usr/local/sbin/etcd-host, "{{.Host}}", stop]
    start_member: [/usr/local/sbin/etcd-host, "{{.Host}}", start]
    install_version: [/usr/local/sbin/etcd-host, "{{.Host}}", install, "{{.ToVersion}}"]
    set_flags: [/usr/local/sbin/etcd-host, "{{.Host}}", flags, --add, "{{.FlagsAdd}}", --drop, "{{.FlagsDrop}}"]
clusters:
  - name: compliant
    endpoints: [https://127.0.0.1:44329]
    labels: {tier: large}
  - name: half-migrated
    endpoints: [http://127.0.0.1:44997]
    labels: {tier: medium}
  - name: legacy
    endpoints: [http://127.0.0.1:45347]
    labels: {tier: small}
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemediatePlanFromFacts: saved facts are judged with the bundled
// controls and planned without any network call; the JSON fits the schema
// apply reads back, and each cluster is planned or refused with its reason.
func TestRemediatePlanFromFacts(t *testing.T) {
	dir := t.TempDir()
	fleet := writeFile(t, dir, "fleet.yaml", planFleet)
	out := filepath.Join(dir, "plan.json")
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "--facts", facts("demo.json"), "--via", "3.6.16", "-o", out, "--color", "never")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := remediate.DecodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	compliant, ok := p.Cluster("compliant")
	if !ok || compliant.Refused != "" || len(compliant.Steps) == 0 {
		t.Fatalf("compliant (3.5.35 -> 3.7.3) not planned: %+v", compliant)
	}
	var upgrades []string
	for _, s := range compliant.Steps {
		if s.Kind == remediate.KindMemberUpgrade {
			upgrades = append(upgrades, s.Member+":"+s.From+"->"+s.To)
		}
		if len(s.Controls) == 0 {
			t.Errorf("step %s names no motivating control", s.ID)
		}
	}
	if len(upgrades) != 6 || !strings.HasSuffix(upgrades[0], "3.5.35->3.6.16") || !strings.HasSuffix(upgrades[5], "3.6.16->3.7.3") {
		t.Errorf("member upgrades %v", upgrades)
	}
	// The v2 data actions are planned before the hop to 3.6, and need the
	// writers' hooks this inventory lacks.
	for _, name := range []string{"half-migrated", "legacy"} {
		c, _ := p.Cluster(name)
		if c == nil || !strings.Contains(c.Refused, "no stop_writers, set_backend, start_writers hook") {
			t.Errorf("%s with v2 data: refused %q", name, c.Refused)
		}
	}
	for _, want := range []string{"cluster compliant (tier large)", "REFUSED: the inventory has no stop_writers", "install 3.6.16", "Nothing has been changed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text plan lacks %q:\n%s", want, stdout)
		}
	}
}

// TestRemediatePlanSeedFleet: the seed's 2.2 fleet full of Kubernetes v2
// data is refused before 3.2, naming why, with the seed's own baseline.
func TestRemediatePlanSeedFleet(t *testing.T) {
	dir := t.TempDir()
	fleet := writeFile(t, dir, "fleet.yaml", strings.Replace(planFleet, "  - name: compliant\n    endpoints: [https://127.0.0.1:44329]", "  - name: k8s-westus2-test\n    endpoints: [https://10.1.0.10:2379]", 1))
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "--facts", facts("seed-2.2.json"), "--data", seedData, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p, err := remediate.DecodePlan([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := p.Cluster("k8s-westus2-test")
	if !ok || p.Target != "3.2.32" {
		t.Fatalf("target %s, clusters %+v", p.Target, p.Clusters)
	}
	for _, want := range []string{"custom v2 data on etcd-0 (5200 keys, 800 with a TTL)", "3.2 panics on a data dir without v3 data (etcd#9480)", "3.0 or 3.1"} {
		if !strings.Contains(c.Refused, want) {
			t.Errorf("refusal %q lacks %q", c.Refused, want)
		}
	}
}

func TestRemediatePlanFlagErrors(t *testing.T) {
	dir := t.TempDir()
	fleet := writeFile(t, dir, "fleet.yaml", planFleet)
	badHook := writeFile(t, dir, "bad.yaml", strings.Replace(planFleet, `"{{.ToVersion}}"`, `"{{.ToVersoin}}"`, 1))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "r.json", "--facts", "f.json"}, "cannot be combined"},
		{[]string{"--via", "3.5.x"}, "--via"},
		{[]string{"--via", "3.5.35,3.5.33"}, "both on 3.5"},
		{[]string{"--actions", "reboot"}, `unknown action "reboot"`},
		{[]string{"--target", "latest"}, "--target"},
		{[]string{"--facts", facts("demo.json"), "--clusters", "nope"}, "no cluster nope"},
		{[]string{"--color", "purple", "--facts", facts("demo.json")}, "--color"},
	} {
		code, _, stderr := runCLI(t, append([]string{"remediate", "plan", "-f", fleet}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 1 and %q", c.args, code, stderr, c.want)
		}
	}
	code, _, stderr := runCLI(t, "remediate", "plan", "-f", badHook, "--facts", facts("demo.json"))
	if code != 1 || !strings.Contains(stderr, "ToVersoin") {
		t.Errorf("a hook template typo: exit %d, %q", code, stderr)
	}
}

// TestRemediateApplyNeedsApproval: without --approve, apply exits 1 before
// reading the fleet or writing a journal.
func TestRemediateApplyNeedsApproval(t *testing.T) {
	dir := t.TempDir()
	fleet := writeFile(t, dir, "fleet.yaml", planFleet)
	planPath := filepath.Join(dir, "plan.json")
	if code, _, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "--facts", facts("demo.json"), "--via", "3.6.16", "-o", planPath); code != 0 {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	state := filepath.Join(dir, "state")
	code, _, stderr := runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--state-dir", state)
	if code != 1 || !strings.Contains(stderr, "not approved: nothing was done") {
		t.Errorf("apply without --approve: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("apply without --approve created the state dir: %v", err)
	}
	code, _, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", filepath.Join(dir, "missing.json"), "--approve", "--state-dir", state)
	if code != 1 || !strings.Contains(stderr, "missing.json") {
		t.Errorf("missing plan: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "remediate", "status", "--state-dir", state)
	if code != 1 || stderr == "" {
		t.Errorf("status without a journal: exit %d, %q", code, stderr)
	}
}

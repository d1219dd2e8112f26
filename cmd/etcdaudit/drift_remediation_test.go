package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
)

// TestDriftNamesRemediationRun: scan, remediate apply (a real 3.6.16 →
// 3.7.3 upgrade through the inventory's hooks), scan again, all in one state
// dir: drift names the run, its action and approver beside the member's
// version change in every format, and the second scan's HTML report has a
// Remediation section with the run.
func TestDriftNamesRemediationRun(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	h := hoststub.Start(t, etcdtest.WithVersion("3.6"))
	fleet := h.Inventory(t, "up")
	dir := t.TempDir()
	state, planPath := filepath.Join(dir, "state"), filepath.Join(dir, "plan.json")
	scan := func(html string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, "scan", "-f", fleet, "--state-dir", state, "--report", "html:"+html)
		if code != 0 && code != 100 {
			t.Fatalf("scan: exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	firstHTML, secondHTML := filepath.Join(dir, "first.html"), filepath.Join(dir, "second.html")
	scan(firstHTML)
	if code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--color", "never"); code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Setenv("USER", "sre-on-call")
	code, stdout, stderr := runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`run (\S+): done`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("apply output names no finished run:\n%s", stdout)
	}
	runID := m[1]
	approver := regexp.MustCompile(`approved by (\S+)`).FindStringSubmatch(stdout)
	if approver == nil {
		t.Fatalf("apply output names no approver:\n%s", stdout)
	}
	scan(secondHTML)

	// cli: the run id on the line right after the version change.
	code, out, errOut := runCLI(t, "drift", "--state-dir", state)
	if code != 0 && code != 100 {
		t.Fatalf("drift: exit %d\n%s\n%s", code, out, errOut)
	}
	want := "← remediation run " + runID + " (upgrade, approved by " + approver[1] + ")"
	lines := strings.Split(out, "\n")
	found := false
	for i, l := range lines {
		if strings.Contains(l, "member_upgraded") && strings.Contains(l, "up/m0") && i+1 < len(lines) && strings.Contains(lines[i+1], want) {
			found = true
		}
	}
	if !found {
		t.Errorf("drift does not put %q under the version change:\n%s", want, out)
	}
	if !strings.Contains(out, "Remediation runs between the scans (1)") || !strings.Contains(out, runID+"  done") {
		t.Errorf("drift lists no run section:\n%s", out)
	}

	// json: the reference on the fact change, the run with its count.
	_, out, _ = runCLI(t, "drift", "--state-dir", state, "-o", "json")
	var d history.Drift
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("drift json: %v\n%s", err, out)
	}
	var ref *history.RemediationRef
	for _, f := range d.Facts {
		if f.Kind == history.MemberUpgraded && f.Member == "m0" && len(f.Remediation) == 1 {
			ref = &f.Remediation[0]
		}
	}
	if ref == nil || ref.Run != runID || strings.Join(ref.Actions, ",") != "upgrade" || ref.Approver != approver[1] || ref.Status != "done" {
		t.Errorf("member_upgraded m0 remediation %+v (facts %+v)", ref, d.Facts)
	}
	if len(d.Remediation) != 1 || d.Remediation[0].ID != runID || d.Remediation[0].Changes == 0 {
		t.Errorf("drift runs %+v", d.Remediation)
	}

	for format, want := range map[string]string{
		"markdown": "| run " + runID + " (upgrade, approved by " + approver[1] + ") |",
		"html":     "<div>run " + runID + " (upgrade, approved by " + approver[1] + ")</div>",
	} {
		_, out, _ = runCLI(t, "drift", "--state-dir", state, "-o", format)
		if !strings.Contains(out, want) {
			t.Errorf("drift -o %s lacks %q:\n%s", format, want, out)
		}
	}

	// The scan reports: the first (before the run) has no section, the
	// second lists the run.
	first, err := os.ReadFile(firstHTML)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(secondHTML)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(first), `id="remediation"`) {
		t.Error("the scan before the run has a Remediation section")
	}
	for _, w := range []string{`<h2>Remediation</h2>`, "<code>" + runID + "</code>", "since the previous scan", "<td>upgrade</td>"} {
		if !strings.Contains(string(second), w) {
			t.Errorf("second report lacks %q", w)
		}
	}
}

package remediate

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

// Environment of the apply process TestResumeAfterKill9 starts and kills.
const (
	envPlan  = "ETCDAUDIT_TEST_APPLY_PLAN"
	envFleet = "ETCDAUDIT_TEST_APPLY_FLEET"
	envState = "ETCDAUDIT_TEST_APPLY_STATE"
)

// TestHelperApplyProcess is the remediator process TestResumeAfterKill9
// kills with SIGKILL; on its own it does nothing.
func TestHelperApplyProcess(t *testing.T) {
	planPath := os.Getenv(envPlan)
	if planPath == "" {
		t.Skip("the apply process of TestResumeAfterKill9")
	}
	b, err := os.ReadFile(planPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := inventory.Load(os.Getenv(envFleet))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policies.New(t.Context(), policies.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := NewGate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := fleet.Clusters[0]
	e := &Engine{
		Fleet: fleet, StateDir: os.Getenv(envState), Gate: gate, Out: os.Stdout,
		Hooks: map[string]*hooks.Runner{c.Name: hooks.NewRunner(c.Hooks, hooks.Options{})},
		Judge: func(ctx context.Context, f *collectors.Facts) (*results.Report, error) {
			return policies.Judge(ctx, pol, f, nil, time.Now().UTC())
		},
	}
	if _, err := e.Apply(t.Context(), p, ApplyOptions{Approve: true, NoCanaryPause: true}); err != nil {
		t.Fatal(err)
	}
}

// TestResumeAfterKill9: the remediator is killed with SIGKILL between two
// members of a hop; resume finishes the run without redoing what was done,
// and nothing is lost.
func TestResumeAfterKill9(t *testing.T) {
	w, p, before := upgradeWorld(t, "killed")
	dir := t.TempDir()
	planPath := filepath.Join(dir, "plan.json")
	f, err := os.Create(planPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(f, p); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperApplyProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envPlan+"="+planPath, envFleet+"="+w.fleetPath, envState+"="+w.eng.StateDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ms := memberSteps(p)
	runRE := regexp.MustCompile(`run (\S+): `)
	runID, killed := "", false
	var seen []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if m := runRE.FindStringSubmatch(line); m != nil && runID == "" {
			runID = m[1]
		}
		// Between two members: the second member's step is done, the
		// third's not started.
		if strings.Contains(line, "member-upgrade "+ms[1].Member) && strings.Contains(line, ": done in") {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	_ = cmd.Wait()
	if !killed || runID == "" {
		t.Fatalf("the apply process ended before the kill point (run %q):\n%s", runID, strings.Join(seen, "\n"))
	}
	t.Logf("killed run %s after:\n%s", runID, strings.Join(seen, "\n"))
	if v := versions(t, w); v[ms[2].Member] != "3.4.23" {
		t.Fatalf("the third member was touched before the kill: %v", v)
	}
	out, err := w.eng.Resume(t.Context(), runID, ApplyOptions{Approve: true, NoCanaryPause: true})
	t.Logf("resume:\n%s", w.out)
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("resume: %+v %v", out, err)
	}
	for m, v := range versions(t, w) {
		if v != "3.5.35" {
			t.Errorf("%s on %s after resume", m, v)
		}
	}
	installs := map[string]int{}
	for _, c := range w.h.Calls() {
		if c.Op == "install" {
			installs[c.Member]++
		}
	}
	for _, s := range ms {
		if installs[s.Member] != 1 {
			t.Errorf("%s installed %d times (a resumed run must not redo done steps)", s.Member, installs[s.Member])
		}
	}
	if err := w.h.Cluster.WaitConverged(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, m := range w.h.Cluster.Members {
		sameKeys(t, before, dump(t, m.Client(t)))
	}
}

package service

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/etcdaudit/etcdaudit/remediate"
)

const exampleGate = "../examples/gate/serve-gate.rego"

// TestExampleGateRegoTests runs the example serve gate's Rego tests the way
// `etcdaudit policy test examples/gate --no-builtin` does.
func TestExampleGateRegoTests(t *testing.T) {
	mods := map[string]*ast.Module{}
	for _, f := range []string{exampleGate, "../examples/gate/serve-gate_test.rego"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModule(filepath.Base(f), string(src))
		if err != nil {
			t.Fatal(err)
		}
		mods[f] = m
	}
	ch, err := tester.NewRunner().SetModules(mods).SetTimeout(30*time.Second).RunTests(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := range ch {
		n++
		if !r.Pass() {
			t.Errorf("%s.%s failed (%v)", r.Package, r.Name, r.Error)
		}
	}
	if n < 10 {
		t.Errorf("ran %d example gate tests, want at least 10", n)
	}
}

// TestExampleGateThroughDecide: the engine's gate reads the example's
// answers as the three decisions, and the bundled gate never says auto.
func TestExampleGateThroughDecide(t *testing.T) {
	g, err := remediate.NewGate(t.Context(), exampleGate)
	if err != nil {
		t.Fatal(err)
	}
	def, err := remediate.NewGate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	in := func(tier, action string, open bool, approver string) remediate.GateInput {
		ms := []remediate.GateMember{}
		for _, n := range []string{"a", "b", "c"} {
			ms = append(ms, remediate.GateMember{Name: n, Reachable: true, Healthy: true, Alarms: []string{}})
		}
		return remediate.GateInput{Cluster: remediate.GateCluster{Name: "c", Tier: tier, MaintenanceWindow: &remediate.GateWindow{Spec: "01:00-02:00", Open: open}},
			Action: action, Facts: remediate.GateFacts{Members: ms}, Run: remediate.GateRun{Pending: []remediate.GatePending{}},
			Options: remediate.GateOptions{AllowTiers: []string{}}, Mode: remediate.ModeServe, Approver: approver}
	}
	for _, c := range []struct {
		tier, action string
		open         bool
		approver     string
		want, def    string
	}{
		{"small", remediate.ActionAttachEventLeases, true, "", remediate.DecisionAuto, remediate.DecisionApprove},
		{"small", remediate.ActionAttachEventLeases, false, "", remediate.DecisionApprove, remediate.DecisionDeny},
		{"medium", remediate.ActionUpgrade, true, "", remediate.DecisionApprove, remediate.DecisionApprove},
		{"large", remediate.ActionUpgrade, true, "", remediate.DecisionDeny, remediate.DecisionDeny},
		{"large", remediate.ActionUpgrade, true, "alice", remediate.DecisionApprove, remediate.DecisionDeny},
	} {
		d, err := g.Decide(t.Context(), in(c.tier, c.action, c.open, c.approver))
		if err != nil || d.Decision != c.want || len(d.Reasons) == 0 {
			t.Errorf("example gate, %s %s open=%v approver=%q: %+v %v, want %s", c.tier, c.action, c.open, c.approver, d, err, c.want)
		}
		d, err = def.Decide(t.Context(), in(c.tier, c.action, c.open, c.approver))
		if err != nil || d.Decision != c.def {
			t.Errorf("bundled gate, %s %s open=%v approver=%q: %+v %v, want %s", c.tier, c.action, c.open, c.approver, d, err, c.def)
		}
	}
}

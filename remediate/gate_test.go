package remediate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestGateRegoTests runs gatepolicy/*_test.rego the way `opa test` does.
func TestGateRegoTests(t *testing.T) {
	mods := map[string]*ast.Module{}
	for _, f := range []string{"gatepolicy/gate.rego", "gatepolicy/gate_test.rego"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModule(f, string(src))
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
		t.Errorf("ran %d gate tests, want at least 10", n)
	}
}

func okGateInput() GateInput {
	ms := []GateMember{}
	for _, n := range []string{"a", "b", "c"} {
		ms = append(ms, GateMember{Name: n, Reachable: true, Healthy: true, Alarms: []string{}})
	}
	return GateInput{Cluster: GateCluster{Name: "c1", Tier: "small"}, Action: ActionUpgrade, Facts: GateFacts{Members: ms}, Run: GateRun{Pending: []GatePending{}}, Mode: "apply"}
}

func TestGateDecide(t *testing.T) {
	g, err := NewGate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Decide(t.Context(), okGateInput())
	if err != nil || !d.Allowed() {
		t.Fatalf("healthy small cluster: %+v %v", d, err)
	}
	in := okGateInput()
	in.Cluster.Tier = "large"
	in.Facts.Members[1].Alarms = []string{"NOSPACE"}
	d, err = g.Decide(t.Context(), in)
	if err != nil || d.Allowed() || len(d.Reasons) != 2 {
		t.Fatalf("large with an alarm: %+v %v", d, err)
	}
	in.Options.AllowTiers = []string{"large"}
	in.Facts.Members[1].Alarms = []string{}
	if d, _ := g.Decide(t.Context(), in); !d.Allowed() {
		t.Errorf("large with --allow-tier large: %+v", d)
	}
}

func TestGateUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	approve := write("approve.rego", "package etcdaudit.gate\n\ndecision := {\"decision\": \"approve\", \"reasons\": [\"a person said so\"]}\n")
	g, err := NewGate(t.Context(), approve)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := g.Decide(t.Context(), okGateInput()); err != nil || d.Decision != DecisionApprove || !d.Allowed() {
		t.Errorf("approve gate: %+v %v", d, err)
	}
	for name, src := range map[string]string{
		"undefined.rego": "package etcdaudit.gate\n\ndecision := 1 if { false }\n",
		"maybe.rego":     "package etcdaudit.gate\n\ndecision := {\"decision\": \"maybe\", \"reasons\": []}\n",
		"shape.rego":     "package etcdaudit.gate\n\ndecision := \"allow\"\n",
	} {
		g, err := NewGate(t.Context(), write(name, src))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := g.Decide(t.Context(), okGateInput()); err == nil {
			t.Errorf("%s: a broken gate answered %+v without an error", name, d)
		}
	}
	if _, err := NewGate(t.Context(), write("syntax.rego", "package etcdaudit.gate\n\ndecision := {\n")); err == nil || !strings.Contains(err.Error(), "syntax.rego") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestWindow(t *testing.T) {
	sat3 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC) // a Saturday
	sun1 := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		spec string
		now  time.Time
		open bool
		err  bool
	}{
		{"02:00-06:00", sat3, true, false},
		{"04:00-06:00", sat3, false, false},
		{"Sat,Sun 02:00-06:00", sat3, true, false},
		{"Mon 02:00-06:00", sat3, false, false},
		{"Sat 22:00-02:00", sun1, true, false}, // began Saturday evening
		{"Sun 22:00-02:00", sun1, false, false},
		{"whenever", sat3, false, true},
		{"Caturday 02:00-06:00", sat3, false, true},
	} {
		w := Window(c.spec, c.now)
		if w.Open != c.open || (w.Error != "") != c.err {
			t.Errorf("%q at %s: %+v", c.spec, c.now, w)
		}
	}
}

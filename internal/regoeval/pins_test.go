package regoeval

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// compilePack compiles the bundled pack (without its tests) and extra
// sources (name -> text), and returns the compiler and every member
// control, sorted by id.
func compilePack(t *testing.T, extra map[string]string) (*ast.Compiler, []Control) {
	t.Helper()
	srcs := map[string]string{}
	files, err := filepath.Glob("../../policies/pack/*.rego")
	if err != nil || len(files) == 0 {
		t.Fatalf("pack: %v %v", files, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = string(b)
	}
	for k, v := range extra {
		srcs[k] = v
	}
	mods := map[string]*ast.Module{}
	var cs []Control
	for name, src := range srcs {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods[name] = m
		for _, a := range m.Annotations {
			if a.Scope != "package" || a.Custom["scope"] != "member" {
				continue
			}
			c := Control{ID: a.Custom["id"].(string), Ref: m.Package.Path}
			for _, r := range m.Rules {
				switch r.Head.Name.String() + refName(r) {
				case "deny":
					c.HasDeny = true
				case "skip":
					c.HasSkip = true
				}
			}
			cs = append(cs, c)
		}
	}
	comp := ast.NewCompiler()
	if comp.Compile(mods); comp.Failed() {
		t.Fatal(comp.Errors)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	return comp, cs
}

func refName(r *ast.Rule) string {
	if r.Head.Name != "" || len(r.Head.Reference) == 0 {
		return ""
	}
	return r.Head.Reference[0].Value.(ast.Var).String()
}

func memberControl(id, body string) string {
	return "# METADATA\n# title: t\n# custom:\n#   id: " + id + "\n#   scope: member\npackage etcdaudit.controls.pin." + strings.ToLower(strings.ReplaceAll(id, "-", "_")) + "\n\n" + body
}

// TestMemoGroupsPinCompiler pins the OPA compiler behaviour memo groups
// rest on: after compilation every read of the input — direct, through an
// import alias, through a rule or a function reached by a data ref — is
// still a ref whose head is the var `input`, and the rules a data ref
// reaches are found with GetRules/GetRulesWithPrefix. If an OPA upgrade
// changes either, the paths below change (or the controls are no longer
// grouped) and this fails; a control the analysis cannot bound (a whole
// subject, `with`, a non-deterministic builtin, a per-member fact) is
// never grouped.
func TestMemoGroupsPinCompiler(t *testing.T) {
	lib := "package etcdaudit.lib.pin\n\nold(v) if semver.compare(v, \"3.4.0\") < 0\n\nver := input.member.version.server\n"
	extra := map[string]string{
		"pin/lib.rego": lib,
		"pin/a.rego":   memberControl("PIN-A", "deny contains \"old\" if input.member.version.server == \"3.3.0\"\n"),
		"pin/b.rego":   memberControl("PIN-B", "import input.member.v2 as v2\n\ndeny contains \"v2\" if v2.keys > 0\n"),
		"pin/c.rego":   memberControl("PIN-C", "import data.etcdaudit.lib.pin\n\ndeny contains \"old\" if pin.old(input.member.version.server)\n"),
		"pin/d.rego":   memberControl("PIN-D", "import data.etcdaudit.lib.pin\n\ndeny contains pin.ver if pin.ver != input.cluster.declared_backend\n"),
		"pin/e.rego":   memberControl("PIN-E", "deny contains \"whole\" if count(input.member) > 3\n"),
		"pin/f.rego":   memberControl("PIN-F", "deny contains \"with\" if input.member.version.server == \"x\" with input.member.version.server as \"x\"\n"),
		"pin/g.rego":   memberControl("PIN-G", "deny contains k if { some k; input.member.version[k] == \"x\" }\n"),
		"pin/h.rego":   memberControl("PIN-H", "deny contains \"now\" if { time.now_ns() > 0; input.member.version.server == \"x\" }\n"),
		"pin/i.rego":   memberControl("PIN-I", "deny contains \"size\" if input.member.status.db_size > 5\n"),
	}
	comp, cs := compilePack(t, extra)
	e, err := New(context.Background(), comp, inmem.New(), Scopes{Member: cs}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range e.scopes[memberScope].groups {
		for _, p := range g.parts {
			got[p.c.ID] = pathsKey(g.paths)
		}
	}
	for id, want := range map[string]string{
		"PIN-A": "input.member.version.server",
		"PIN-B": "input.member.v2.keys",
		"PIN-C": "input.member.version.server",
		"PIN-D": "input.cluster.declared_backend,input.member.version.server",
		"PIN-G": "input.member.version", // a dynamic key: keyed on the whole object
		"PIN-E": "", "PIN-F": "", "PIN-H": "", "PIN-I": "",
	} {
		if got[id] != want {
			t.Errorf("%s: grouped on %q, want %q", id, got[id], want)
		}
	}
	// The bundled version controls read the version alone.
	for _, id := range []string{"ETCD-VER-001", "ETCD-VER-002"} {
		if got[id] != "input.member.version.server" {
			t.Errorf("%s: grouped on %q, want the server version", id, got[id])
		}
	}
	off, err := New(context.Background(), comp, inmem.New(), Scopes{Member: cs}, Options{NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(off.scopes[memberScope].groups); n != 0 {
		t.Errorf("NoOptimize: %d memo groups, want none", n)
	}
}

// TestNondeterministicFlags pins what memo groups read from OPA's builtin
// table: a builtin whose value can differ between two evaluations on the
// same facts is flagged Nondeterministic, so a control calling it is never
// grouped (TestMemoGroupsPinCompiler, PIN-H).
func TestNondeterministicFlags(t *testing.T) {
	for _, name := range []string{"time.now_ns", "rand.intn", "uuid.rfc4122", "http.send", "net.lookup_ip_addr", "opa.runtime"} {
		if b := ast.BuiltinMap[name]; b == nil || !b.Nondeterministic {
			t.Errorf("%s is not flagged non-deterministic in this OPA", name)
		}
	}
}

// TestDirectQueryPinsTopdown pins the topdown behaviour the evaluator
// calls directly instead of through the rego package: the query compiler
// reports the rewritten name of the `verdicts` variable (RewrittenVars),
// the value bound to it is the verdicts, and cancelling the
// query's topdown.Cancel stops an evaluation stuck in a builtin loop (the
// evaluation deadline).
func TestDirectQueryPinsTopdown(t *testing.T) {
	extra := map[string]string{
		"pin/ok.rego":   memberControl("PIN-OK", "deny contains sprintf(\"v%s\", [input.member.version.server]) if input.member.name != \"\"\nskip contains \"s\" if false\n"),
		"pin/slow.rego": memberControl("PIN-SLOW", "deny contains \"never\" if {\n\tsome a in numbers.range(1, 5000)\n\tsome b in numbers.range(1, 5000)\n\ta * b == -1\n}\n"),
	}
	comp, cs := compilePack(t, extra)
	var mine []Control
	for _, c := range cs {
		if strings.HasPrefix(c.ID, "PIN-") {
			mine = append(mine, c)
		}
	}
	e, err := New(context.Background(), comp, inmem.New(), Scopes{Member: mine}, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q := e.scopes[memberScope].pq
	if q == nil || q.out == "verdicts" {
		t.Fatalf("the query compiler no longer reports the rewritten verdicts variable (out %q)", q.out)
	}
	f := &collectors.Facts{Clusters: []collectors.ClusterFacts{{Name: "c", Members: []collectors.MemberFacts{
		{Name: "m", Version: &collectors.VersionFacts{Server: "3.5.1"}},
	}}}}
	var got []Verdict
	err = e.Evaluate(context.Background(), f, func(_ Subject, vs []Verdict) { got = slices.Clone(vs) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Equal(got[0].Deny, []string{"v3.5.1"}) || len(got[0].Skip) != 0 || got[0].Err != nil {
		t.Errorf("PIN-OK: %+v, want deny [v3.5.1]", got)
	}
	if len(got) == 2 && (got[1].Err == nil || !strings.Contains(got[1].Err.Error(), "PIN-SLOW did not finish within the evaluation deadline of 1s")) {
		t.Errorf("PIN-SLOW: %+v, want the deadline error", got[1])
	}
}

package policies

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// shapeString lists the paths a shape keeps, for logs and assertions.
func shapeString(s *shape, prefix string, out *[]string) {
	switch {
	case s == nil:
		*out = append(*out, prefix+" (nil)")
	case s.full:
		*out = append(*out, prefix)
	case s.elem != nil:
		shapeString(s.elem, prefix+"[_]", out)
	case len(s.kids) == 0:
		*out = append(*out, prefix+" {}")
	}
	if s != nil && !s.full {
		for k, c := range s.kids {
			shapeString(c, prefix+"."+k, out)
		}
	}
	sort.Strings(*out)
}

func memberControlIDs(t *testing.T) []string {
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range e.Controls() {
		if c.Scope == results.ScopeMember {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// TestPruneSameResults: converting only the facts the selected controls
// read changes the cost, never a verdict or a message — for the whole pack,
// the member controls alone, one control, user controls, the seed's
// baseline, on the synthetic, mutated, seed, demo and hostile facts.
func TestPruneSameResults(t *testing.T) {
	ctx := context.Background()
	configs := map[string]Config{
		"pack":          {},
		"member":        {Controls: memberControlIDs(t)},
		"health-member": {Controls: []string{"ETCD-HEALTH-001"}},
		"cert+quota":    {Controls: []string{"ETCD-SEC-003", "ETCD-HEALTH-008"}},
		"cluster":       {Tags: []string{"consistency"}},
		"seed":          {DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}},
		"split-skip":    {PolicyDirs: []string{"../testdata/policies/split-skip"}},
		"demo":          {DataFiles: []string{"../testdata/facts/demo-baseline.yaml"}},
	}
	facts := []*collectors.Facts{syntheticFleet(200), syntheticFleet(200, true), mutatedFleet(1), mutatedFleet(2), mutatedFleet(3), mutatedFleet(4)}
	names := []string{"synthetic", "synthetic-worst", "mutated-1", "mutated-2", "mutated-3", "mutated-4"}
	for _, n := range []string{"seed-2.2.json", "seed-2.3.json", "seed-3.0.json", "seed-3.1.json", "seed-3.2.json", "hostile.json", "demo.json"} {
		facts = append(facts, loadFacts(t, n))
		names = append(names, n)
	}
	pruned := 0
	for name, cfg := range configs {
		with, err := New(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		noPrune = true
		without, err := New(ctx, cfg)
		noPrune = false
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if without.shape != nil {
			t.Fatalf("%s: noPrune still prunes", name)
		}
		var kept []string
		shapeString(with.shape, "facts", &kept)
		t.Logf("%s: converted %v", name, kept)
		if with.shape != nil {
			pruned++
		}
		for i, f := range facts {
			judgeBoth(t, name+"/"+names[i], with, without, f)
		}
	}
	if pruned < 4 {
		t.Errorf("only %d configurations pruned anything", pruned)
	}
}

// TestPruneShape: the member controls leave out what none of them reads
// (collector runs, errors, v3 key counts), read object.get's key only, and
// keep what they read whole.
func TestPruneShape(t *testing.T) {
	e, err := New(context.Background(), Config{Controls: memberControlIDs(t)})
	if err != nil {
		t.Fatal(err)
	}
	if e.shape == nil {
		t.Fatal("member controls: nothing pruned")
	}
	m := e.shape.kids["clusters"].elem.kids["members"].elem
	if m == nil || m.full {
		t.Fatalf("member facts converted whole: %+v", m)
	}
	for _, k := range []string{"runs", "errors", "member_list"} {
		if m.kids[k] != nil {
			t.Errorf("member.%s is converted, yet no member control reads it", k)
		}
	}
	for _, k := range []string{"unreachable_reason", "reachable", "endpoint"} {
		if m.kids[k] == nil || !m.kids[k].full {
			t.Errorf("member.%s not converted whole", k)
		}
	}
	// Bound to a local and read field by field (status := input.member.status;
	// status.db_size …, and through message(status)): those fields only.
	for obj, want := range map[string][]string{
		"status":   {"db_size", "db_size_in_use", "db_size_quota"},
		"health":   {"healthy", "reason"},
		"security": {"scheme", "cert_days_left", "cert_not_after", "cert_subject"},
	} {
		o := m.kids[obj]
		if o == nil || o.full {
			t.Errorf("member.%s: %+v, want some fields", obj, o)
			continue
		}
		for _, k := range want {
			if o.kids[k] == nil || !o.kids[k].full {
				t.Errorf("member.%s.%s not converted", obj, k)
			}
		}
	}
	for _, k := range []string{"raft_index", "revision", "errors"} {
		if m.kids["status"].kids[k] != nil {
			t.Errorf("member.status.%s converted, yet no member control reads it", k)
		}
	}
	if v := m.kids["version"]; v == nil || v.full || v.kids["server"] == nil {
		t.Errorf("member.version: %+v, want server only", v)
	}
}

// TestPruneConservative: `with`, a bare input, and a dynamic ref turn
// pruning off or keep the whole subtree.
func TestPruneConservative(t *testing.T) {
	cases := []struct {
		name, body string
		check      func(*shape) string
	}{
		{"with", "v := input.member.version.server\ndeny contains v if { v == \"x\" with input.member.name as \"y\" }\n", func(s *shape) string {
			if s != nil {
				return "not off"
			}
			return ""
		}},
		{"bare", "deny contains \"x\" if { count(input) > 5 }\n", func(s *shape) string {
			if s != nil && !s.kids["clusters"].elem.kids["members"].elem.full {
				return "member not whole"
			}
			return ""
		}},
		{"bound_input", "deny contains \"x\" if { m := input; m.member.name == \"y\" }\n", func(s *shape) string {
			if m := s.kids["clusters"].elem.kids["members"].elem; m.full || m.kids["name"] == nil || len(m.kids) != 1 {
				return "want member.name only"
			}
			return ""
		}},
		{"alias", "deny contains x if { m := input.member; x := object.get(m, \"name\", \"?\"); m.id == \"1\" }\n", func(s *shape) string {
			if m := s.kids["clusters"].elem.kids["members"].elem; m.full || m.kids["name"] == nil || m.kids["id"] == nil || len(m.kids) != 2 {
				return "want member.name and member.id only"
			}
			return ""
		}},
		{"alias_whole", "deny contains \"x\" if { m := input.member; m.id == \"1\"; count(m) > 3 }\n", func(s *shape) string {
			if m := s.kids["clusters"].elem.kids["members"].elem; !m.full {
				return "member not whole"
			}
			return ""
		}},
		{"alias_rebound", "deny contains \"x\" if { m := input.member; n := m; n.id == \"1\" }\n", func(s *shape) string {
			if m := s.kids["clusters"].elem.kids["members"].elem; !m.full {
				return "member not whole"
			}
			return ""
		}},
		{"func", "deny contains msg if { s := input.member.status; s.db_size > 5; msg := f(s, \"x\") }\nf(st, y) := sprintf(\"%v %v %s\", [st.leader, object.get(st, \"revision\", 0), y]) if st.raft_term > 1\nelse := g(st)\ng(z) := sprintf(\"%v\", [z.errors])\n", func(s *shape) string {
			st := s.kids["clusters"].elem.kids["members"].elem.kids["status"]
			if st == nil || st.full || len(st.kids) != 5 {
				return "want status.db_size, leader, revision, raft_term, errors"
			}
			for _, k := range []string{"db_size", "leader", "revision", "raft_term", "errors"} {
				if st.kids[k] == nil {
					return "status." + k + " missing"
				}
			}
			return ""
		}},
		{"func_pattern", "deny contains msg if { s := input.member.status; s.db_size > 5; t := input.member.health; msg := f(s, t) }\nf(a, a) := \"same\"\n", func(s *shape) string {
			if st := s.kids["clusters"].elem.kids["members"].elem.kids["status"]; st == nil || !st.full {
				return "status not whole"
			}
			return ""
		}},
		{"func_whole", "deny contains msg if { s := input.member.status; s.db_size > 5; msg := f(s) }\nf(st) := sprintf(\"%v\", [st])\n", func(s *shape) string {
			if st := s.kids["clusters"].elem.kids["members"].elem.kids["status"]; st == nil || !st.full {
				return "status not whole"
			}
			return ""
		}},
		{"dynamic", "deny contains k if { some k; input.member.status[k] == 1 }\ndeny contains x if { some k in [\"name\"]; x := input.member[k] }\n", func(s *shape) string {
			m := s.kids["clusters"].elem.kids["members"].elem
			if !m.full {
				return "member not whole"
			}
			return ""
		}},
		{"data", "import data.etcdaudit.lib.prune_helper\ndeny contains \"x\" if prune_helper.h\n", func(s *shape) string {
			m := s.kids["clusters"].elem.kids["members"].elem
			if m.full || m.kids["runs"] == nil || !m.kids["runs"].full || m.kids["status"] != nil {
				return "runs not followed through data"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		writeMemberControl(t, dir, "prune", tc.name, tc.body)
		lib := "package etcdaudit.lib.prune_helper\n\nh if count(input.member.runs) > 100\n"
		if err := os.WriteFile(filepath.Join(dir, "lib.rego"), []byte(lib), 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := New(context.Background(), Config{PolicyDirs: []string{dir}, Controls: []string{"TEST-PRUNE-" + tc.name}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if msg := tc.check(e.shape); msg != "" {
			var kept []string
			shapeString(e.shape, "facts", &kept)
			t.Errorf("%s: %s: %v", tc.name, msg, kept)
		}
	}
}

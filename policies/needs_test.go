package policies

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// without returns a copy of v (a facts struct) with one JSON field removed.
func without[T any](t *testing.T, v T, field string) T {
	t.Helper()
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, field)
	b, _ = json.Marshal(m)
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMissingFactIsNeverAPass removes, one by one, every fact each bundled
// control declares in custom.needs from the compliant seed stage: the
// control's result must become error carrying the collector's error when
// the collector failed, and skipped when the collector was not selected.
func TestMissingFactIsNeverAPass(t *testing.T) {
	e, err := New(context.Background(), Config{DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	base := loadFacts(t, "seed-3.2.json")
	checked := 0
	for _, c := range e.AllControls() {
		for _, need := range e.Needs(c.ID) {
			for _, mode := range []string{"failed", "not-selected"} {
				f := without(t, *base, "") // deep copy
				fact, _ := strings.CutPrefix(need, "members.")
				fact, _ = strings.CutPrefix(fact, "clusters.")
				fe := collectors.FactError{Collector: fact, Error: "boom: context deadline exceeded"}
				if mode == "not-selected" {
					f.Collectors = []string{"version"}
					if fact == "version" {
						f.Collectors = []string{"status"}
					}
				}
				cl := &f.Clusters[0]
				switch {
				case c.Scope == results.ScopeCluster && !strings.Contains(need, "."):
					*cl = without(t, *cl, need)
					cl.Runs = nil
					if mode == "failed" {
						cl.Errors = append(cl.Errors, fe)
					}
				case fact == "v2_count":
					// The v2 fact stays; only its count is missing.
					for i := range cl.Members {
						if v2 := cl.Members[i].V2; v2 != nil {
							cp := *v2
							cp.Enabled, cp.Counted = true, false
							cl.Members[i].V2 = &cp
						}
						cl.Members[i].Runs = nil
						if mode == "failed" {
							cl.Members[i].Errors = append(cl.Members[i].Errors, fe)
						}
					}
				default:
					for i := range cl.Members {
						cl.Members[i] = without(t, cl.Members[i], fact)
						cl.Members[i].Runs = nil
						if mode == "failed" {
							cl.Members[i].Errors = append(cl.Members[i].Errors, fe)
						}
					}
				}
				rs, err := e.Evaluate(context.Background(), &f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					if r.Control != c.ID {
						continue
					}
					checked++
					msg := strings.Join(r.Messages, " ")
					switch {
					case c.Scope == results.ScopeFleet:
						if r.Status != results.Error {
							t.Errorf("%s without %s (%s): %s %q, want error", c.ID, need, mode, r.Status, msg)
						}
					case mode == "failed" && (r.Status != results.Error || !strings.Contains(msg, "boom")):
						t.Errorf("%s without %s (collector failed): %s %q, want error with the collector's error", c.ID, need, r.Status, msg)
					case mode == "not-selected" && r.Status != results.Skipped:
						t.Errorf("%s without %s (not selected): %s %q, want skipped", c.ID, need, r.Status, msg)
					case mode == "not-selected" && c.Scope != results.ScopeFleet && r.NotCollected != fact:
						t.Errorf("%s without %s (not selected): not_collected %q, want %q", c.ID, need, r.NotCollected, fact)
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d results checked", checked)
	}
}

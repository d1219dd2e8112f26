package policies

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestOptimizeSameResults: the evaluator's optimisation (memo groups)
// changes the cost, never a verdict or a message — on the synthetic and
// mutated fleets, every seed stage, the hostile and demo facts, for the
// pack, the member controls alone, and the seed's and demo's baselines.
func TestOptimizeSameResults(t *testing.T) {
	ctx := context.Background()
	facts := []*collectors.Facts{syntheticFleet(300), syntheticFleet(300, true), mutatedFleet(1), mutatedFleet(2), mutatedFleet(3), mutatedFleet(4)}
	for _, n := range []string{"seed-2.2.json", "seed-2.3.json", "seed-3.0.json", "seed-3.1.json", "seed-3.2.json", "hostile.json", "demo.json"} {
		facts = append(facts, loadFacts(t, n))
	}
	configs := map[string]Config{
		"pack":   {},
		"member": {Controls: memberControlIDs(t)},
		"seed":   {DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}},
		"demo":   {DataFiles: []string{"../testdata/facts/demo-baseline.yaml"}},
	}
	for name, cfg := range configs {
		with, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.NoOptimize = true
		without, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range facts {
			judgeBoth(t, fmt.Sprintf("%s: facts %d", name, i), with, without, f)
		}
	}
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

// writeMemberControl writes a member-scoped control TEST-<KIND>-<name>, in
// package etcdaudit.controls.test.<kind>_<name>, with body, into dir.
func writeMemberControl(t *testing.T, dir, kind, name, body string) {
	t.Helper()
	pkg := strings.ToLower(kind) + "_" + name
	src := "# METADATA\n# title: t\n# description: t\n# custom:\n#   id: TEST-" + strings.ToUpper(kind) + "-" + name +
		"\n#   impact: 0.5\n#   scope: member\n#   tags: [test]\npackage etcdaudit.controls.test." + pkg + "\n\n" + body
	if err := os.WriteFile(filepath.Join(dir, pkg+".rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// judgeBoth judges f with two engines that must agree (optimised and
// not) and fails at the first result that differs; it returns the
// first engine's results.
func judgeBoth(t *testing.T, label string, a, b *Engine, f *collectors.Facts) []results.Result {
	t.Helper()
	ra, err := a.Evaluate(context.Background(), f)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	rb, err := b.Evaluate(context.Background(), f)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if len(ra) != len(rb) || len(ra) == 0 {
		t.Fatalf("%s: %d results one way, %d the other", label, len(ra), len(rb))
	}
	for k := range ra {
		if !reflect.DeepEqual(ra[k], rb[k]) {
			t.Fatalf("%s: result %d differs:\n %+v\n %+v", label, k, ra[k], rb[k])
		}
	}
	return ra
}

// TestSplitSameResults: controls split into a per-member deny and a
// memoized skip — sound, conflicting, or yielding non-strings — and helper
// rules read under `with` judge exactly as without the optimisation.
func TestSplitSameResults(t *testing.T) {
	ctx := context.Background()
	cfg := Config{PolicyDirs: []string{"../testdata/policies/split-skip"}}
	with, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NoOptimize = true
	without, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]map[results.Status]int{}
	for i, f := range []*collectors.Facts{syntheticFleet(200), syntheticFleet(200, true), mutatedFleet(4)} {
		for _, r := range judgeBoth(t, fmt.Sprintf("facts %d", i), with, without, f) {
			if strings.HasPrefix(r.Control, "TEST-SPLIT") {
				if statuses[r.Control] == nil {
					statuses[r.Control] = map[results.Status]int{}
				}
				statuses[r.Control][r.Status]++
			}
		}
	}
	t.Logf("statuses: %v", statuses)
	// The cases must really be exercised: failures, skips, passes, and
	// policy errors from the conflict and the non-string outputs.
	for id, want := range map[string][]results.Status{
		"TEST-SPLIT-001": {results.Failed, results.Skipped, results.Passed},
		"TEST-SPLIT-002": {results.Error, results.Passed},
		"TEST-SPLIT-003": {results.Error, results.Passed},
		"TEST-SPLIT-004": {results.Failed},
	} {
		for _, st := range want {
			if statuses[id][st] == 0 {
				t.Errorf("%s: no %s result: %v", id, st, statuses[id])
			}
		}
	}
}

// mutatedFleet is the synthetic fleet with random holes and edge values in
// the facts the controls read (missing facts, zero and huge db sizes,
// quotas, odd versions, fractional and boundary certificate days, members
// without a name, collector errors): memo keys and the member controls'
// arithmetic must judge these exactly as the per-member path does.
func mutatedFleet(seed int64) *collectors.Facts {
	r := rand.New(rand.NewSource(seed))
	f := syntheticFleet(200, seed%2 == 0)
	pick := func(xs ...string) string { return xs[r.Intn(len(xs))] }
	for c := range f.Clusters {
		if r.Intn(5) == 0 {
			f.Clusters[c].DeclaredBackend = pick("", "etcd2", "etcd3", "weird")
		}
		for m := range f.Clusters[c].Members {
			mf := &f.Clusters[c].Members[m]
			switch r.Intn(12) {
			case 0:
				mf.Status = nil
			case 1:
				mf.Status.DBSize = 0
			case 2:
				mf.Status.DBSizeQuota = []int64{0, -1, 1 << 30, 1, 2147483648}[r.Intn(5)]
			case 3:
				mf.Status.DBSizeInUse = mf.Status.DBSize * 3
			case 4:
				mf.Status.DBSize, mf.Status.DBSizeInUse = 104857600, 52428800
			case 5:
				mf.Status.DBSize, mf.Status.DBSizeInUse, mf.Status.DBSizeQuota = 1717986918, 100, 0
			}
			switch r.Intn(8) {
			case 0:
				mf.Version = nil
			case 1:
				mf.Version.Server = pick("", "garbage", "3.4.0", "3.3.99", "3.4.0-rc.1", "v3.5.1", "2.3.8", "3.2.32", "3.7.3", "4.0.0")
			}
			switch r.Intn(8) {
			case 0:
				mf.Health = nil
			case 1:
				mf.Health.Healthy, mf.Health.Reason = false, pick("", "no leader", "alarm NOSPACE")
			case 2:
				mf.Reachable, mf.UnreachableReason = false, pick("", "dial tcp: refused")
			}
			switch r.Intn(10) {
			case 0:
				mf.Security = nil
			case 1:
				mf.Security.Scheme = pick("", "http", "https", "HTTPS")
			case 2:
				mf.Security.CertDaysLeft = nil
			case 3:
				d := []float64{-0.5, 0, 30, 30.0001, 29.99, -100, 1e9}[r.Intn(7)]
				mf.Security.CertDaysLeft = &d
				na := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
				mf.Security.CertNotAfter = &na
				mf.Security.CertSubject = pick("", "CN=etcd")
			case 4:
				mf.Security.ClientCertRequired = nil
			case 5:
				y := true
				mf.Security.AuthEnabled = &y
			case 6:
				mf.Security.AuthEnabled = nil
			}
			switch r.Intn(8) {
			case 0:
				mf.V2 = nil
			case 1:
				mf.Backend = nil
			case 2:
				mf.Backend.Observed = pick("", "etcd2", "etcd3", "mixed", "none")
			case 3:
				mf.V2.Counted = false
			}
			switch r.Intn(20) {
			case 0:
				mf.Name = ""
			case 1:
				mf.Name, mf.ID = "", ""
			case 2:
				mf.Name, mf.ID, mf.Endpoint = "", "", ""
			}
			if r.Intn(15) == 0 {
				mf.Errors = append(mf.Errors, collectors.FactError{Collector: pick("status", "health", "security", "version"), Error: "boom"})
			}
		}
	}
	if seed%3 == 0 {
		f.Collectors = []string{"version", "status", "health"}
	}
	return f
}

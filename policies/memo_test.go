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

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestMemoSameResults: memo groups change the cost, never a verdict or a
// message — on the synthetic fleet and every seed stage.
func TestMemoSameResults(t *testing.T) {
	ctx := context.Background()
	with, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	noMemo = true
	without, err := New(ctx, Config{})
	noMemo = false
	if err != nil {
		t.Fatal(err)
	}
	if len(with.scopes["member"].groups) == 0 || len(without.scopes["member"].groups) != 0 {
		t.Fatal("memo groups not as expected")
	}
	for _, g := range with.scopes["member"].groups {
		var ids []string
		for _, p := range g.parts {
			ids = append(ids, partName(p))
		}
		t.Logf("memo group %s: %v", pathsKey(g.paths), ids)
	}
	for _, p := range with.scopes["member"].joint {
		t.Logf("per member: %s", partName(p))
	}
	facts := []*collectors.Facts{syntheticFleet(300), syntheticFleet(300, true), mutatedFleet(1), mutatedFleet(2), mutatedFleet(3)}
	for _, n := range []string{"seed-2.2.json", "seed-3.0.json", "seed-3.1.json", "seed-3.2.json", "hostile.json", "demo.json"} {
		facts = append(facts, loadFacts(t, n))
	}
	for i, f := range facts {
		judgeBoth(t, fmt.Sprintf("facts %d", i), with, without, f)
	}
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

// judgeBoth judges f with two engines that must agree (memo or pruning on
// and off) and fails at the first result that differs; it returns the
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
// rules shared across members (one conflicting, one also read under
// `with`) judge exactly as when each control is evaluated whole, alone.
func TestSplitSameResults(t *testing.T) {
	ctx := context.Background()
	cfg := Config{PolicyDirs: []string{"../testdata/policies/split-skip"}}
	with, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	noMemo = true
	without, err := New(ctx, cfg)
	noMemo = false
	if err != nil {
		t.Fatal(err)
	}
	split := 0
	for _, p := range with.scopes["member"].joint {
		if !p.skip {
			split++
		}
	}
	if split < 4 { // the three test controls and ETCD-HEALTH-009
		t.Fatalf("%d split controls, want at least 4", split)
	}
	for _, name := range []string{"data.etcdaudit.controls.test.split_conflict.which", "data.etcdaudit.controls.test.split_with.v"} {
		if with.memoRules.lookup(ast.MustParseRef(name)) == nil {
			t.Errorf("%s is not shared across members", name)
		}
	}
	statuses := map[string]map[results.Status]int{}
	for _, f := range []*collectors.Facts{syntheticFleet(200), syntheticFleet(200, true), mutatedFleet(4)} {
		a, err := with.Evaluate(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := without.Evaluate(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%d results split, %d whole", len(a), len(b))
		}
		for k := range a {
			if !reflect.DeepEqual(a[k], b[k]) {
				t.Fatalf("result %d differs:\n split %+v\n whole %+v", k, a[k], b[k])
			}
			if strings.HasPrefix(a[k].Control, "TEST-SPLIT") {
				if statuses[a[k].Control] == nil {
					statuses[a[k].Control] = map[results.Status]int{}
				}
				statuses[a[k].Control][a[k].Status]++
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

func partName(p part) string {
	switch {
	case p.deny && p.skip:
		return p.c.ID
	case p.deny:
		return p.c.ID + " (deny)"
	}
	return p.c.ID + " (skip)"
}

// TestInputPathsConservative: controls reading a whole subject are never
// memoized; version controls are.
func TestInputPathsConservative(t *testing.T) {
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ETCD-VER-001": true, "ETCD-VER-002": true, "ETCD-HEALTH-001": false, "ETCD-VER-003": false}
	for _, c := range e.all {
		w, ok := want[c.ID]
		if !ok {
			continue
		}
		if _, got := inputPaths(e.compiler, c.ref); got != w {
			t.Errorf("%s: memoizable %v, want %v", c.ID, got, w)
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

// TestTruthPaths: a per-member fact tested only as a bare condition keys a
// memo group by its truth (undefined, false, true), a value use of it does
// not, and judging with such groups gives the same results as without.
func TestTruthPaths(t *testing.T) {
	dir := t.TempDir()
	bodies := map[string]string{
		"bare":  "deny contains \"unreachable\" if not input.member.reachable\nskip contains \"no expiry\" if { input.member.security; not input.member.security.cert_days_left }\ndeny contains \"odd scheme\" if { input.member.security.cert_days_left; input.member.security.scheme == \"HTTPS\" }\n",
		"value": "deny contains \"soon\" if input.member.security.cert_days_left < 40\n",
	}
	for name, body := range bodies {
		writeMemberControl(t, dir, "truth", name, body)
	}
	ctx := context.Background()
	with, err := New(ctx, Config{PolicyDirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	var bare, value *control
	for _, c := range with.all {
		switch c.ID {
		case "TEST-TRUTH-bare":
			bare = c
		case "TEST-TRUTH-value":
			value = c
		}
	}
	paths, ok := inputPaths(with.compiler, bare.ref)
	if got, want := pathsKey(paths), "?input.member.reachable,?input.member.security,?input.member.security.cert_days_left,input.member.security.scheme"; !ok || got != want {
		t.Errorf("bare conditions: paths %q (memoizable %v), want %q", got, ok, want)
	}
	if paths, ok := inputPaths(with.compiler, value.ref); ok {
		t.Errorf("a value use of cert_days_left is memoizable: %s", pathsKey(paths))
	}
	for v, want := range map[ast.Value]string{nil: "u", ast.Boolean(false): "f", ast.Boolean(true): "t", ast.Number("0"): "t", ast.Null{}: "t", ast.String(""): "t"} {
		if got := string(appendTruth(nil, v)); got != want {
			t.Errorf("truth of %v: %s, want %s", v, got, want)
		}
	}
	noMemo = true
	without, err := New(ctx, Config{PolicyDirs: []string{dir}, NoBuiltin: true})
	noMemo = false
	if err != nil {
		t.Fatal(err)
	}
	for seed := int64(1); seed <= 4; seed++ {
		a := judgeBoth(t, fmt.Sprintf("seed %d", seed), with, without, mutatedFleet(seed))
		statuses := map[results.Status]int{}
		for _, r := range a {
			statuses[r.Status]++
		}
		if statuses[results.Failed] == 0 || statuses[results.Passed] == 0 || statuses[results.Skipped] == 0 {
			t.Errorf("seed %d: %v: want passes, failures and skips", seed, statuses)
		}
	}
}

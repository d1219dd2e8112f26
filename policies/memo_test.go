package policies

import (
	"context"
	"reflect"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
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
		for _, c := range g.controls {
			ids = append(ids, c.ID)
		}
		t.Logf("memo group %s: %v", pathsKey(g.paths), ids)
	}
	for _, c := range with.scopes["member"].controls {
		t.Logf("per member: %s", c.ID)
	}
	facts := []*collectors.Facts{syntheticFleet(300)}
	for _, n := range []string{"seed-2.2.json", "seed-3.0.json", "seed-3.1.json", "seed-3.2.json"} {
		facts = append(facts, loadFacts(t, n))
	}
	for i, f := range facts {
		a, err := with.Evaluate(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := without.Evaluate(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			for k := range a {
				if k < len(b) && !reflect.DeepEqual(a[k], b[k]) {
					t.Errorf("facts %d: result %d differs:\n memo %+v\n none %+v", i, k, a[k], b[k])
					break
				}
			}
			t.Errorf("facts %d: %d results with memo, %d without", i, len(a), len(b))
		}
	}
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

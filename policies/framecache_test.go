package policies

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestFrameCacheMatchesTopdown replays one sequence of operations on
// frameCache and on OPA's own virtual cache and compares every answer.
func TestFrameCacheMatchesTopdown(t *testing.T) {
	a := ast.MustParseRef("data.x.a")
	b := ast.MustParseRef("data.x.b")
	ab := ast.MustParseRef("data.x.a.b")
	x := ast.MustParseRef("data.x")
	one, two := ast.IntNumberTerm(1), ast.IntNumberTerm(2)
	var fc frameCache
	fc.reset()
	vc := topdown.NewVirtualCache()
	check := func(step string, refs ...ast.Ref) {
		t.Helper()
		for _, r := range refs {
			fv, fu := fc.Get(r)
			vv, vu := vc.Get(r)
			if fu != vu || (fv == nil) != (vv == nil) || (fv != nil && !fv.Equal(vv)) {
				t.Fatalf("%s: Get(%v) = %v, %v; topdown %v, %v", step, r, fv, fu, vv, vu)
			}
		}
		if len(fc.Keys()) != len(vc.Keys()) {
			t.Fatalf("%s: Keys %v; topdown %v", step, fc.Keys(), vc.Keys())
		}
	}
	all := []ast.Ref{a, b, ab, x}
	check("empty", all...)
	for _, c := range []topdown.VirtualCache{&fc, vc} {
		c.Put(a, one)
		c.Put(b, nil)
	}
	check("put", all...)
	for _, c := range []topdown.VirtualCache{&fc, vc} {
		c.Put(a, two)
		c.Put(b, one) // stays undefined
		c.Put(ab, one)
	}
	check("overwrite", all...)
	for _, c := range []topdown.VirtualCache{&fc, vc} {
		c.Push()
	}
	check("pushed frame is empty", all...)
	for _, c := range []topdown.VirtualCache{&fc, vc} {
		c.Put(a, one)
		c.Push()
		c.Pop()
	}
	check("inner frame", all...)
	for _, c := range []topdown.VirtualCache{&fc, vc} {
		c.Pop()
	}
	check("popped", all...)
	// A caller reusing the ref's array must not change the cached key.
	buf := append(ast.Ref(nil), x...)
	buf = append(buf, ast.StringTerm("c"))
	fc.Put(buf, one)
	buf[len(buf)-1] = ast.StringTerm("d")
	if v, _ := fc.Get(ast.MustParseRef("data.x.c")); v == nil {
		t.Fatal("cached ref changed with the caller's array")
	}
	fc.reset()
	if v, u := fc.Get(a); v != nil || u {
		t.Fatal("reset kept a value")
	}
}

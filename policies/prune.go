package policies

import (
	"fmt"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// Converting facts to Rego values costs allocations and garbage collection
// for every member, yet the selected controls read a few
// fields of each member: its status, health, version, security, not its
// collector runs, errors or v3 key counts. The same static analysis as the
// memo groups (every rule a control's deny and skip reach, through data
// refs) gives the input paths the selected controls can read; only those
// subtrees are converted. A path read whole (input.member.status), or
// dynamically (input.cluster.members[i] is read as input.cluster.members),
// is converted whole; `with` or a bare `input` anywhere turns pruning off.
// A control sees exactly the values it would see in the full input, and
// needs (custom.needs) are checked on the Go facts, never on the input.

// shape is the part of a facts value to convert: all of it (full), the
// listed object keys (kids), or each element of an array (elem).
type shape struct {
	full bool
	kids map[string]*shape
	elem *shape
}

func (s *shape) child(k string) *shape {
	if s.kids == nil {
		s.kids = map[string]*shape{}
	}
	c := s.kids[k]
	if c == nil {
		c = &shape{}
		s.kids[k] = c
	}
	return c
}

// add marks the subtree at path as needed whole.
func (s *shape) add(path []string) {
	for _, k := range path {
		if s.full {
			return
		}
		s = s.child(k)
	}
	s.full, s.kids, s.elem = true, nil, nil
}

// noPrune converts the whole facts (tests compare both ways).
var noPrune = false

// inputReads returns the static input paths the rules at roots and every
// rule they reach can read, or all=true when that cannot be bounded: a
// `with`, or `input` used other than as the head of a ref. A ref's static
// prefix is what it reads (input.member[k] reads input.member);
// object.get(input.x, "k", d) reads input.x.k only.
func inputReads(comp *ast.Compiler, roots []ast.Ref) (paths []ast.Ref, all bool) {
	var queue []*ast.Rule
	for _, r := range roots {
		queue = append(queue, comp.GetRules(r)...)
	}
	seen := map[*ast.Rule]bool{}
	var vis *ast.GenericVisitor
	// objectGet handles object.get(ref, "key", …): true when it read it.
	objectGet := func(op ast.Ref, args []*ast.Term) bool {
		if len(args) < 2 || op.String() != "object.get" {
			return false
		}
		ref, isRef := args[0].Value.(ast.Ref)
		key, isStr := args[1].Value.(ast.String)
		if !isRef || !isStr || !ref.HasPrefix(ast.InputRootRef) || len(ref.StringPrefix()) != len(ref) {
			return false
		}
		paths = append(paths, ref.Append(ast.NewTerm(key)))
		for _, t := range args[2:] {
			vis.Walk(t)
		}
		return true
	}
	var consumed map[*ast.Expr][]ast.Ref
	vis = ast.NewGenericVisitor(func(x any) bool {
		if all {
			return true
		}
		switch x := x.(type) {
		case *ast.Expr:
			if len(x.With) > 0 {
				all = true
				return true
			}
			if ps, ok := consumed[x]; ok {
				paths = append(paths, ps...)
				return true
			}
			if x.IsCall() {
				return objectGet(x.Operator(), x.Operands())
			}
		case ast.Call:
			if len(x) > 0 {
				if op, isRef := x[0].Value.(ast.Ref); isRef {
					return objectGet(op, x[1:])
				}
			}
		case ast.Ref:
			switch {
			case x.HasPrefix(ast.InputRootRef):
				paths = append(paths, x.StringPrefix().Copy())
				for _, t := range x[1:] {
					vis.Walk(t)
				}
				return true
			case x.HasPrefix(ast.DefaultRootRef):
				p := x.StringPrefix()
				queue = append(queue, comp.GetRules(p)...)
				queue = append(queue, comp.GetRulesWithPrefix(p)...)
			}
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				all = true
				return true
			}
		}
		return false
	})
	for len(queue) > 0 && !all {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		consumed = localReads(comp, r)
		vis.Walk(r)
	}
	if all {
		return nil, true
	}
	return paths, false
}

// controlRoots are the rules a scope's queries evaluate for c.
func controlRoots(c *control) []ast.Ref {
	var out []ast.Ref
	if c.hasDeny {
		out = append(out, c.ref.Append(ast.StringTerm("deny")))
	}
	if c.hasSkip {
		out = append(out, c.ref.Append(ast.StringTerm("skip")))
	}
	return out
}

// factsShape is the part of collectors.Facts the selected controls can
// read through their inputs (see input.go for how facts map to each
// scope's input), or nil to convert everything.
func (e *Engine) factsShape() *shape {
	root := &shape{}
	clusters := root.child("clusters")
	cluster := &shape{}
	clusters.elem = cluster
	member := &shape{}
	// input.cluster of a member is its cluster without "members".
	clusterOwn := func() {
		for _, f := range structFields(reflect.TypeFor[collectors.ClusterFacts]()) {
			if f.name != "members" {
				cluster.add([]string{f.name})
			}
		}
	}
	for scope, q := range e.scopes {
		for _, c := range q.order {
			paths, all := inputReads(e.compiler, controlRoots(c))
			if all {
				return nil
			}
			for _, p := range paths {
				keys := make([]string, 0, len(p)-1)
				for _, t := range p[1:] {
					keys = append(keys, string(t.Value.(ast.String)))
				}
				switch scope {
				case results.ScopeMember:
					switch {
					case len(keys) == 0:
						member.add(nil)
						clusterOwn()
					case keys[0] == "member":
						member.add(keys[1:])
					case keys[0] == "cluster" && len(keys) == 1:
						clusterOwn()
					case keys[0] == "cluster" && keys[1] != "members":
						cluster.add(keys[1:])
					}
				case results.ScopeCluster:
					switch {
					case len(keys) == 0:
						cluster.add(nil)
					case keys[0] == "cluster":
						cluster.add(keys[1:])
					}
				case results.ScopeFleet:
					if len(keys) == 0 || keys[0] == "fleet" && (len(keys) == 1 || keys[1] == "clusters") {
						cluster.add(nil)
					}
				}
			}
		}
	}
	if e.scopes[results.ScopeMember] != nil && !cluster.full {
		// Every member is judged, so every member is converted, even to {}.
		if ms := cluster.child("members"); !ms.full && ms.elem == nil {
			ms.elem = member
		}
	}
	return root
}

// shaped converts the part of v that s names, by toAST's rules.
func (c *converter) shaped(v reflect.Value, s *shape) (*ast.Term, error) {
	if s == nil || s.full {
		return c.term(v)
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return c.term(v)
		}
		v = v.Elem()
	}
	switch {
	case v.Kind() == reflect.Struct && v.Type() != timeType && s.elem == nil:
		obj, err := c.structObject(v, c.plan(v.Type(), s))
		if err != nil {
			return nil, err
		}
		return c.newTerm(obj), nil
	case v.Kind() == reflect.Map && !v.IsNil() && v.Type().Key().Kind() == reflect.String && s.elem == nil:
		obj := ast.NewObjectWithCapacity(len(s.kids))
		for k, ks := range s.kids {
			mv := v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))
			if !mv.IsValid() {
				continue
			}
			x, err := c.shaped(mv, ks)
			if err != nil {
				return nil, err
			}
			obj.Insert(c.newTerm(ast.String(k)), x)
		}
		return c.newTerm(obj), nil
	case v.Kind() == reflect.Slice && !v.IsNil() && s.elem != nil && len(s.kids) == 0:
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			x, err := c.shaped(v.Index(i), s.elem)
			if err != nil {
				return nil, err
			}
			terms[i] = x
		}
		return c.newTerm(ast.NewArray(terms...)), nil
	}
	return c.term(v)
}

// shapedField is a struct field the shape keeps, with the shape below it.
type shapedField struct {
	field
	shape *shape
}

// structObject converts the given fields of struct v, each by its shape,
// into one object, by encoding/json's omitempty rule.
func (c *converter) structObject(v reflect.Value, fields []shapedField) (ast.Object, error) {
	base := len(c.items)
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmptyValue(fv) {
			continue
		}
		x, err := c.shaped(fv, f.shape)
		if err != nil {
			c.items = c.items[:base]
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		c.items = append(c.items, [2]*ast.Term{f.key, x})
	}
	return c.object(base), nil
}

type planKey struct {
	t reflect.Type
	s *shape
}

// plan is the fields of struct type t that s keeps (every field, each
// whole, for a nil s), worked out once per type and shape for each
// converter: a member's facts have dozens of fields, of which the controls
// read a few.
func (c *converter) plan(t reflect.Type, s *shape) []shapedField {
	k := planKey{t, s}
	if fs, ok := c.plans[k]; ok {
		return fs
	}
	var fs []shapedField
	for _, f := range structFields(t) {
		if s == nil {
			fs = append(fs, shapedField{f, nil})
		} else if ks := s.kids[f.name]; ks != nil {
			fs = append(fs, shapedField{f, ks})
		}
	}
	if c.plans == nil {
		c.plans = map[planKey][]shapedField{}
	}
	c.plans[k] = fs
	return fs
}

package policies

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// Controls bind a piece of the input to a local and read fields of it
// (`status := input.member.status; status.db_size > limit`), often passing
// the local on to a message function that reads a few more fields. Read
// as written, the binding reads all of input.member.status, so the whole
// status would be converted for every member. localReads follows such a local
// through the rule, and through the parameters of the functions it is
// passed to, and when it is only ever read field by field, the binding
// reads just those fields. Any other use — compared whole, passed to a
// builtin, bound again, iterated, read with a dynamic key — keeps the
// whole path.

// maxFollow bounds how deep function calls are followed.
const maxFollow = 8

// localReads maps each expression of r that binds a local to a static
// input path, and whose local is only read field by field, to the input
// paths it really reads. inputReads records those instead of the whole
// path when it meets the expression.
func localReads(comp *ast.Compiler, r *ast.Rule) map[*ast.Expr][]ast.Ref {
	var out map[*ast.Expr][]ast.Ref
	ast.WalkExprs(r, func(e *ast.Expr) bool {
		v, ref, ok := inputBinding(e)
		if !ok {
			return false
		}
		suffixes, ok := varReads(comp, r, v, e, 0)
		if !ok || len(suffixes) == 0 {
			// Unused, the binding still needs the path to exist: keep it.
			return false
		}
		if out == nil {
			out = map[*ast.Expr][]ast.Ref{}
		}
		for _, s := range suffixes {
			out[e] = append(out[e], ref.Concat(s))
		}
		return false
	})
	return out
}

// inputBinding matches `v = input.a.b` or `v := input.a.b` (either order,
// a static path), the form the compiler leaves for a local bound to the
// input and for object.get's lifted object.
func inputBinding(e *ast.Expr) (ast.Var, ast.Ref, bool) {
	if e.Negated || len(e.With) > 0 || !e.IsCall() || len(e.Operands()) != 2 {
		return "", nil, false
	}
	switch e.Operator().String() {
	case "eq", "assign":
	default:
		return "", nil, false
	}
	a, b := e.Operand(0), e.Operand(1)
	if _, isVar := a.Value.(ast.Var); !isVar {
		a, b = b, a
	}
	v, isVar := a.Value.(ast.Var)
	ref, isRef := b.Value.(ast.Ref)
	if !isVar || !isRef || !ref.HasPrefix(ast.InputRootRef) || len(ref.StringPrefix()) != len(ref) {
		return "", nil, false
	}
	return v, ref, true
}

// varReads returns the static field paths (relative to v) read through v
// in r, skipping the expression that binds it (bind, or nil for a function
// parameter, whose declaration in the head is skipped), or ok=false when
// v is used in any other way.
func varReads(comp *ast.Compiler, r *ast.Rule, v ast.Var, bind *ast.Expr, depth int) (reads []ast.Ref, ok bool) {
	if depth > maxFollow {
		return nil, false
	}
	ok = true
	var vis *ast.GenericVisitor
	// call handles op(args…): object.get(v, "k", …) reads k; a user
	// function given v reads what its parameter is read for.
	call := func(op ast.Ref, args []*ast.Term) bool {
		if op.String() == "object.get" && len(args) >= 2 {
			key, isStr := args[1].Value.(ast.String)
			if x, isVar := args[0].Value.(ast.Var); isVar && x.Equal(v) && isStr {
				reads = append(reads, ast.Ref{ast.NewTerm(key)})
				for _, t := range args[2:] {
					vis.Walk(t)
				}
				return true
			}
			return false
		}
		if !op.HasPrefix(ast.DefaultRootRef) {
			return false
		}
		fns := comp.GetRules(op)
		if len(fns) == 0 || len(fns[0].Head.Args) == 0 {
			return false
		}
		arity := len(fns[0].Head.Args)
		for i, a := range args {
			x, isVar := a.Value.(ast.Var)
			if !isVar || !x.Equal(v) {
				vis.Walk(a)
				continue
			}
			if i >= arity {
				ok = false // v is where the function's result goes
				return true
			}
			for _, fn := range fns {
				for rule := fn; rule != nil; rule = rule.Else {
					if len(rule.Head.Args) != arity {
						ok = false
						return true
					}
					p, isVar := rule.Head.Args[i].Value.(ast.Var)
					if !isVar || paramRepeated(rule.Head.Args, i, p) {
						ok = false // a pattern: the argument is matched whole
						return true
					}
					sub, subOK := varReads(comp, rule, p, nil, depth+1)
					if !subOK {
						ok = false
						return true
					}
					reads = append(reads, sub...)
				}
			}
		}
		return true
	}
	vis = ast.NewGenericVisitor(func(x any) bool {
		if !ok {
			return true
		}
		switch x := x.(type) {
		case *ast.Expr:
			if x == bind {
				return true
			}
			if x.IsCall() {
				return call(x.Operator(), x.Operands())
			}
		case ast.Call:
			if len(x) > 0 {
				if op, isRef := x[0].Value.(ast.Ref); isRef {
					return call(op, x[1:])
				}
			}
		case ast.Ref:
			if h, isVar := x[0].Value.(ast.Var); isVar && h.Equal(v) {
				n := 1
				for n < len(x) {
					if _, isStr := x[n].Value.(ast.String); !isStr {
						break
					}
					n++
				}
				if n == 1 {
					ok = false // v[k]: any field
					return true
				}
				reads = append(reads, x[1:n].Copy())
				for _, t := range x[n:] {
					vis.Walk(t)
				}
				return true
			}
		case ast.Var:
			if x.Equal(v) {
				ok = false
				return true
			}
		}
		return false
	})
	if bind != nil {
		vis.Walk(r)
		return reads, ok
	}
	// A function parameter: its body and head value, not its declaration.
	vis.Walk(r.Body)
	if r.Head.Value != nil {
		vis.Walk(r.Head.Value)
	}
	if r.Head.Key != nil {
		vis.Walk(r.Head.Key)
	}
	return reads, ok
}

// paramRepeated reports whether p, the i-th parameter, appears in another
// parameter too (f(x, x), f(x, [x])): the arguments are then unified whole.
func paramRepeated(args ast.Args, i int, p ast.Var) bool {
	for j, a := range args {
		if j == i {
			continue
		}
		found := false
		ast.WalkVars(a, func(v ast.Var) bool {
			found = found || v.Equal(p)
			return found
		})
		if found {
			return true
		}
	}
	return false
}

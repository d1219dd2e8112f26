package regoeval

import (
	"encoding/binary"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A member control whose rules (and every rule and function they reach)
// read only a few narrow input paths — input.member.version, input.member.v2,
// input.cluster.declared_backend — gives the same verdict for every member
// with the same values there. Such controls are grouped by the paths they
// read and judged once per distinct value per Evaluate call: a fleet of
// 10,000 members on a dozen versions evaluates the version controls a
// dozen times. Everything else is judged per member in the scope's joint
// query. The analysis is conservative: a control that reads a whole
// subject (input.member, input.cluster.members), reads input dynamically,
// uses `with`, or calls a non-deterministic builtin is never memoized.
//
// It rests on OPA's evaluator being a function of the compiled policies,
// the data and the input: no state carries from one query to the next
// (TestMemoGroupsRestOnPureEvaluation pins this).
type memoGroup struct {
	paths []ast.Ref
	parts []part
	pq    *query
}

// inputPaths returns the static input paths a control reads, or ok=false
// when they cannot be bounded to narrow ones.
func inputPaths(comp *ast.Compiler, root ast.Ref) (paths []ast.Ref, ok bool) {
	paths, ok = readPaths(comp, root)
	if len(paths) == 0 {
		return nil, false
	}
	return paths, ok
}

// readPaths returns the narrow input paths the rules at root and every rule
// they reach read (none for rules on data alone), or ok=false when a rule
// reads a wide or dynamic input path, uses `with`, or calls a
// non-deterministic builtin (its value could differ between two
// evaluations on the same facts).
func readPaths(comp *ast.Compiler, root ast.Ref) (paths []ast.Ref, ok bool) {
	seen := map[*ast.Rule]bool{}
	queue := comp.GetRules(root)
	ok = true
	var inputRefs, inputVars int
	var values []ast.Ref
	vis := ast.NewGenericVisitor(func(x any) bool {
		if x, isRef := x.(ast.Ref); isRef {
			switch {
			case x.HasPrefix(ast.InputRootRef):
				inputRefs++
				p := x.StringPrefix()
				if !narrow(p) {
					ok = false
				}
				values = append(values, p.Copy())
			case x.HasPrefix(ast.DefaultRootRef):
				// The rules at the ref's static prefix and, for a ref that
				// goes on dynamically (data.x[k]), every rule below it.
				p := x.StringPrefix()
				queue = append(queue, comp.GetRules(p)...)
				queue = append(queue, comp.GetRulesWithPrefix(p)...)
			}
		}
		return false
	})
	for len(queue) > 0 && ok {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		ast.WalkExprs(r, func(e *ast.Expr) bool {
			if len(e.With) > 0 || (e.IsCall() && nondeterministic(e.Operator())) {
				ok = false
			}
			return false
		})
		ast.WalkTerms(r, func(t *ast.Term) bool {
			if c, isCall := t.Value.(ast.Call); isCall && len(c) > 0 {
				if op, isRef := c[0].Value.(ast.Ref); isRef && nondeterministic(op) {
					ok = false
				}
			}
			return false
		})
		ast.WalkTerms(r, func(t *ast.Term) bool {
			if v, isVar := t.Value.(ast.Var); isVar && v.Equal(ast.InputRootDocument.Value) {
				inputVars++
			}
			return false
		})
		vis.Walk(r)
	}
	if !ok || inputVars != inputRefs {
		return nil, false
	}
	// Keep the shortest of nested paths; sort for a stable group key.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) < len(values[j]) })
	for _, p := range values {
		if !slices.ContainsFunc(paths, func(q ast.Ref) bool { return p.HasPrefix(q) }) {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return paths[i].String() < paths[j].String() })
	return paths, true
}

func nondeterministic(op ast.Ref) bool {
	b, found := ast.BuiltinMap[op.String()]
	return found && b.Nondeterministic
}

// unique are member facts that differ on nearly every member (identity,
// raft indexes, db sizes, timings, certificate dates): memoizing on them
// would only add evaluations. A path is narrow when it neither is nor
// contains one of them.
var unique = []ast.Ref{
	ast.MustParseRef("input.member.name"), ast.MustParseRef("input.member.id"),
	ast.MustParseRef("input.member.endpoint"), ast.MustParseRef("input.member.client_urls"),
	ast.MustParseRef("input.member.peer_urls"),
	// Status: sizes, raft positions, revision and errors differ per member;
	// the quota and the learner flag do not.
	ast.MustParseRef("input.member.status.db_size"), ast.MustParseRef("input.member.status.db_size_in_use"),
	ast.MustParseRef("input.member.status.leader"), ast.MustParseRef("input.member.status.raft_term"),
	ast.MustParseRef("input.member.status.raft_index"), ast.MustParseRef("input.member.status.raft_applied_index"),
	ast.MustParseRef("input.member.status.revision"), ast.MustParseRef("input.member.status.errors"),
	ast.MustParseRef("input.member.health"), ast.MustParseRef("input.member.member_list"),
	ast.MustParseRef("input.member.runs"), ast.MustParseRef("input.member.errors"),
	ast.MustParseRef("input.member.unreachable_reason"), ast.MustParseRef("input.member.v3.keys"),
	ast.MustParseRef("input.member.v3.revision"), ast.MustParseRef("input.member.v3.compact_revision"),
	ast.MustParseRef("input.member.security.cert_not_after"),
	ast.MustParseRef("input.member.security.cert_days_left"), ast.MustParseRef("input.member.security.cert_sans"),
	ast.MustParseRef("input.member.security.cert_subject"),
}

// narrow: a low-cardinality field of the member (version, v2 counts,
// backend, TLS scheme) or of the cluster's own facts, never a whole subject,
// the members list, or a per-member unique fact.
func narrow(p ast.Ref) bool {
	if len(p) < 3 {
		return false
	}
	switch p[1].Value.(ast.String) {
	case "member":
		for _, u := range unique {
			if p.HasPrefix(u) || u.HasPrefix(p) {
				return false
			}
		}
		return true
	case "cluster":
		return p[2].Value.(ast.String) != "members"
	}
	return false
}

func pathsKey(paths []ast.Ref) string {
	s := make([]string, len(paths))
	for i, p := range paths {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// memoKey appends the values of the group's paths in one input to dst:
// each value tagged with its kind and length-prefixed, so two inputs share
// a key only when every path holds the same value. Built in a reused
// buffer, it costs no allocation on a memo hit.
func memoKey(dst []byte, in ast.Value, paths []ast.Ref) []byte {
	for _, p := range paths {
		v := in
		for _, t := range p[1:] {
			obj, isObj := v.(ast.Object)
			if !isObj {
				v = nil
				break
			}
			x := obj.Get(t)
			if x == nil {
				v = nil
				break
			}
			v = x.Value
		}
		dst = appendValue(dst, v)
	}
	return dst
}

// appendValue appends v tagged with its kind; objects, arrays and sets
// element by element (objects and sets in their sorted order), which costs
// far less than formatting them.
func appendValue(dst []byte, v ast.Value) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, 'u')
	case ast.Null:
		return append(dst, 'z')
	case ast.Boolean:
		if x {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case ast.String:
		return appendSized(append(dst, 's'), string(x))
	case ast.Number:
		return appendSized(append(dst, 'n'), string(x))
	case ast.Object:
		return appendObject(dst, x)
	case *ast.Array:
		dst = binary.AppendUvarint(append(dst, 'a'), uint64(x.Len()))
		for i := range x.Len() {
			dst = appendValue(dst, x.Elem(i).Value)
		}
		return dst
	case ast.Set:
		dst = binary.AppendUvarint(append(dst, 'e'), uint64(x.Len()))
		for _, e := range x.Slice() {
			dst = appendValue(dst, e.Value)
		}
		return dst
	}
	return appendSized(append(dst, 'v'), v.String())
}

// appendObject is apart from appendValue so that only an object pays for
// the closure's captured buffer.
func appendObject(dst []byte, x ast.Object) []byte {
	out := binary.AppendUvarint(append(dst, 'o'), uint64(x.Len()))
	x.Foreach(func(k, e *ast.Term) {
		out = appendValue(appendValue(out, k.Value), e.Value)
	})
	return out
}

func appendSized(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

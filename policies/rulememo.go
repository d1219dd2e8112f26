package policies

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Memo groups reuse whole verdicts; a control judged per member can still
// share the helper rules inside it. A complete rule (no arguments) whose
// rules, and every rule they reach, read only narrow input paths (or data
// alone) has the same value for every member with the same values there:
// db quota's `quota` (the reported quota or the baseline's), fragmentation's
// `reports_in_use` (the version). The member queries get a virtual cache
// (OPA's per-query cache of rule values) that remembers such rules across
// the members one worker judges, keyed by those values.
type memoRule struct {
	path  ast.Ref
	paths []memoPath
}

// memoRules are the complete rules of the compiled policies eligible for
// cross-member reuse, by rule name (the last element of their path).
type memoRules map[ast.String][]*memoRule

func findMemoRules(comp *ast.Compiler) memoRules {
	out := memoRules{}
	byPath := map[string][]*ast.Rule{}
	var order []string
	for _, m := range comp.Modules {
		for _, r := range m.Rules {
			k := r.Ref().String()
			if byPath[k] == nil {
				order = append(order, k)
			}
			byPath[k] = append(byPath[k], r)
		}
	}
	for _, k := range order {
		rules := byPath[k]
		simple := true
		for _, r := range rules {
			// name := … / name if …, with no arguments and a plain name.
			if len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.SingleValue || len(r.Head.Ref()) != 1 {
				simple = false
			}
		}
		if !simple {
			continue
		}
		path := rules[0].Path()
		if !path.HasPrefix(ast.DefaultRootRef) {
			continue
		}
		paths, ok := readPaths(comp, path)
		if !ok {
			continue
		}
		name, isString := path[len(path)-1].Value.(ast.String)
		if !isString {
			continue
		}
		out[name] = append(out[name], &memoRule{path: path, paths: paths})
	}
	return out
}

func (mr memoRules) lookup(ref ast.Ref) *memoRule {
	if len(ref) == 0 {
		return nil
	}
	name, ok := ref[len(ref)-1].Value.(ast.String)
	if !ok {
		return nil
	}
	for _, r := range mr[name] {
		if r.path.Equal(ref) {
			return r
		}
	}
	return nil
}

// memoCache is a worker's topdown.VirtualCache for member queries. The
// values of memo rules are served from, and recorded in, the cross-member
// memo only outside any `with` (inside one, input or data may differ), and
// recorded only when the query that computed them succeeds: OPA caches a
// complete rule's first value before it has checked the other bodies for a
// conflict, so a failed query's values are dropped.
type memoCache struct {
	rules   memoRules
	inner   frameCache
	depth   int
	input   ast.Value
	key     []byte
	values  map[*memoRule]map[string]memoValue
	pending []pendingValue
}

type memoValue struct {
	term      *ast.Term
	undefined bool
}

type pendingValue struct {
	rule *memoRule
	key  string
	val  memoValue
}

func newMemoCache(rules memoRules) *memoCache {
	return &memoCache{rules: rules, values: map[*memoRule]map[string]memoValue{}}
}

// begin readies the cache for one query on input; end records (ok) or
// drops its memo values.
func (c *memoCache) begin(input ast.Value) {
	c.inner.reset()
	c.depth = 0
	c.input = input
	c.pending = c.pending[:0]
}

func (c *memoCache) end(ok bool) {
	if ok {
		for _, p := range c.pending {
			m := c.values[p.rule]
			if m == nil {
				m = map[string]memoValue{}
				c.values[p.rule] = m
			}
			m[p.key] = p.val
		}
	}
	c.pending = c.pending[:0]
	c.inner.reset()
	c.input = nil
}

func (c *memoCache) Push() { c.depth++; c.inner.Push() }
func (c *memoCache) Pop()  { c.depth--; c.inner.Pop() }

func (c *memoCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if c.depth == 0 {
		if r := c.rules.lookup(ref); r != nil {
			c.key = memoKey(c.key[:0], c.input, r.paths)
			if v, ok := c.values[r][string(c.key)]; ok {
				return v.term, v.undefined
			}
		}
	}
	return c.inner.Get(ref)
}

func (c *memoCache) Put(ref ast.Ref, value *ast.Term) {
	c.inner.Put(ref, value)
	if c.depth == 0 {
		if r := c.rules.lookup(ref); r != nil {
			c.key = memoKey(c.key[:0], c.input, r.paths)
			c.pending = append(c.pending, pendingValue{r, string(c.key), memoValue{value, value == nil}})
		}
	}
}

func (c *memoCache) Keys() []ast.Ref { return c.inner.Keys() }

var _ topdown.VirtualCache = (*memoCache)(nil)

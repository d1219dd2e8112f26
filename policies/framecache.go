package policies

import "github.com/open-policy-agent/opa/v1/ast"

// frameCache is topdown's virtual cache (a stack of independent frames:
// `with` pushes an empty one) as flat lists reused from query to query.
// OPA's own builds a hash tree per query, ~2 KB a member judged and a
// good part of the garbage; a member query caches a few dozen rule
// values, where a scan from the last element of the ref is cheaper.
type frameCache struct {
	frames [][]frameEntry
	depth  int
	refs   []*ast.Term // backing store of the entries' refs
}

type frameEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

// reset empties the cache for the next query, keeping its memory.
func (c *frameCache) reset() {
	for i := range c.frames {
		clear(c.frames[i])
		c.frames[i] = c.frames[i][:0]
	}
	if len(c.frames) == 0 {
		c.frames = append(c.frames, nil)
	}
	c.depth = 0
	clear(c.refs)
	c.refs = c.refs[:0]
}

func (c *frameCache) Push() {
	c.depth++
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, nil)
	}
	c.frames[c.depth] = c.frames[c.depth][:0]
}

func (c *frameCache) Pop() {
	clear(c.frames[c.depth])
	c.frames[c.depth] = c.frames[c.depth][:0]
	c.depth--
}

func (c *frameCache) find(ref ast.Ref) *frameEntry {
	es := c.frames[c.depth]
	for i := range es {
		if refEqualFromEnd(es[i].ref, ref) {
			return &es[i]
		}
	}
	return nil
}

// Get has topdown's contract: (nil, true) undefined, (v, false) defined,
// (nil, false) not cached.
func (c *frameCache) Get(ref ast.Ref) (*ast.Term, bool) {
	e := c.find(ref)
	switch {
	case e == nil:
		return nil, false
	case e.undefined:
		return nil, true
	}
	return e.value, false
}

// Put follows topdown: a nil value marks the ref undefined, and a ref once
// marked undefined stays so.
func (c *frameCache) Put(ref ast.Ref, value *ast.Term) {
	e := c.find(ref)
	if e == nil {
		// The caller may reuse ref's backing array; topdown's tree keeps
		// the elements, so keep a copy of them.
		n := len(c.refs)
		c.refs = append(c.refs, ref...)
		c.frames[c.depth] = append(c.frames[c.depth], frameEntry{ref: ast.Ref(c.refs[n:len(c.refs):len(c.refs)])})
		e = &c.frames[c.depth][len(c.frames[c.depth])-1]
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

func (c *frameCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.frames[c.depth] {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}

// refEqualFromEnd compares the last elements first: cached refs share
// long prefixes (data.etcdaudit.controls...).
func refEqualFromEnd(a, b ast.Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := len(a) - 1; i >= 0; i-- {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

package policies

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Every query reads the data it needs (the baseline's thresholds) from
// the store, and OPA keeps what it read in a base cache made new for each
// query: a member's judgement paid a store read, a conversion and a few
// cache maps for each threshold its rules touch — even those read only to
// look up which rules apply (the rule index resolves a data ref in a rule
// body before the rule's cached value is consulted). The store is never
// written after New and a worker reads it through one transaction, so
// what one query read is what the next would: each worker keeps one base
// cache for all its queries. `with data.x as …` is unaffected; OPA lays
// such values over the cached ones at each read.
type baseCache struct {
	root baseNode
}

type baseNode struct {
	value    ast.Value
	children map[ast.Value]*baseNode
}

// Get is the value at ref, or below a cached value at a prefix of it.
func (c *baseCache) Get(ref ast.Ref) ast.Value {
	node := &c.root
	for i := range ref {
		node = node.children[ref[i].Value]
		if node == nil {
			return nil
		}
		if node.value != nil {
			if i == len(ref)-1 {
				return node.value
			}
			v, err := node.value.Find(ref[i+1:])
			if err != nil {
				return nil
			}
			return v
		}
	}
	return nil
}

// Put records the value read at ref; what was cached below it is covered
// by it now.
func (c *baseCache) Put(ref ast.Ref, value ast.Value) {
	node := &c.root
	for i := range ref {
		child := node.children[ref[i].Value]
		if child == nil {
			if node.children == nil {
				node.children = map[ast.Value]*baseNode{}
			}
			child = &baseNode{}
			node.children[ref[i].Value] = child
		}
		node = child
	}
	node.value, node.children = value, nil
}

var _ topdown.BaseCache = (*baseCache)(nil)

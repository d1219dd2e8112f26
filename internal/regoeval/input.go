package regoeval

import (
	"fmt"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// inputs turns facts into each subject's input with encoding/json's rules
// (toAST), so Rego sees exactly the fields of a saved facts file: eval on
// a saved file and the scan that saved it give the same results.
//
// A cluster's values are converted when its worker reaches it and dropped
// when it is judged, not all up front: converted facts left live for the
// whole evaluation were most of what the garbage collector had to mark
// again and again, a third of judging a member at 10,000 members. Only the
// fleet's input needs every cluster at once; when fleet controls run, the
// fleet is converted first and its clusters are reused, then released one
// by one as they are judged.
type inputs struct {
	facts     *collectors.Facts
	fleet     ast.Value
	fleetMini *ast.Term
	clusters  []clusterInputs // filled by the fleet's conversion, else empty
}

// clusterInputs are one cluster's converted values: the cluster object
// (members included) for cluster controls, the same without "members" for
// member inputs, and each member.
type clusterInputs struct {
	obj     ast.Object
	mini    *ast.Term
	members []*ast.Term
}

var (
	keyMember   = ast.StringTerm("member")
	keyCluster  = ast.StringTerm("cluster")
	keyFleet    = ast.StringTerm("fleet")
	keyMembers  = ast.StringTerm("members")
	keyClusters = ast.StringTerm("clusters")
)

// newInputs prepares the conversion of f; with fleet it converts every
// cluster now, for the fleet's input.
func newInputs(f *collectors.Facts, fleet bool) (*inputs, error) {
	in := &inputs{facts: f}
	in.fleetMini = ast.NewTerm(ast.NewObject(
		ast.Item(ast.StringTerm("inventory"), ast.StringTerm(f.Inventory)),
		ast.Item(ast.StringTerm("profile"), ast.StringTerm(f.Profile)),
	))
	if !fleet {
		return in, nil
	}
	var c converter
	terms := make([]*ast.Term, len(f.Clusters))
	in.clusters = make([]clusterInputs, len(f.Clusters))
	for i := range f.Clusters {
		ci, err := c.clusterInputs(f, i)
		if err != nil {
			return nil, err
		}
		in.clusters[i] = ci
		terms[i] = ast.NewTerm(ci.obj)
	}
	in.fleet = ast.NewObject(ast.Item(keyFleet, ast.NewTerm(ast.NewObject(
		ast.Item(ast.StringTerm("inventory"), ast.StringTerm(f.Inventory)),
		ast.Item(ast.StringTerm("profile"), ast.StringTerm(f.Profile)),
		ast.Item(keyClusters, ast.NewTerm(ast.NewArray(terms...))),
	))))
	return in, nil
}

// clusterInputs converts cluster i of f.
func (c *converter) clusterInputs(f *collectors.Facts, i int) (clusterInputs, error) {
	t, err := c.term(reflect.ValueOf(&f.Clusters[i]))
	if err != nil {
		return clusterInputs{}, fmt.Errorf("convert facts: cluster %s: %w", f.Clusters[i].Name, err)
	}
	co, ok := t.Value.(ast.Object)
	if !ok {
		return clusterInputs{}, fmt.Errorf("convert facts: cluster %d is not an object", i)
	}
	ci := clusterInputs{obj: co}
	base := len(c.items)
	co.Foreach(func(k, v *ast.Term) {
		if !k.Equal(keyMembers) {
			c.items = append(c.items, [2]*ast.Term{k, v})
		}
	})
	ci.mini = ast.NewTerm(c.object(base))
	if t := co.Get(keyMembers); t != nil {
		if arr, ok := t.Value.(*ast.Array); ok {
			ci.members = make([]*ast.Term, arr.Len())
			for j := range ci.members {
				ci.members[j] = arr.Elem(j)
			}
		}
	}
	return ci, nil
}

// take hands cluster i's values to the worker that judges it and forgets
// them, so they are garbage once that cluster is judged.
func (in *inputs) take(c *converter, i int) (clusterInputs, error) {
	if in.clusters != nil {
		ci := in.clusters[i]
		in.clusters[i] = clusterInputs{}
		return ci, nil
	}
	return c.clusterInputs(in.facts, i)
}

func (in *inputs) clusterInput(ci *clusterInputs) ast.Value {
	return ast.NewObject(
		ast.Item(keyCluster, ast.NewTerm(ci.obj)),
		ast.Item(keyFleet, in.fleetMini),
	)
}

func (in *inputs) memberInput(ci *clusterInputs, j int) ast.Value {
	return ast.NewObject(
		ast.Item(keyMember, ci.members[j]),
		ast.Item(keyCluster, ci.mini),
		ast.Item(keyFleet, in.fleetMini),
	)
}

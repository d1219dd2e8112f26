package policies

import (
	"fmt"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// inputs holds the facts converted to Rego values once per evaluation;
// per-subject inputs share these values instead of converting again.
type inputs struct {
	fleet       ast.Value
	fleetMini   *ast.Term
	clusters    []ast.Object // full cluster objects, members included
	clusterMini []*ast.Term  // the same without "members", for member inputs
	members     [][]*ast.Term
}

var (
	keyMember   = ast.StringTerm("member")
	keyCluster  = ast.StringTerm("cluster")
	keyFleet    = ast.StringTerm("fleet")
	keyMembers  = ast.StringTerm("members")
	keyClusters = ast.StringTerm("clusters")
)

// buildInputs converts facts with encoding/json's rules (toAST), so Rego
// sees exactly the fields of a saved facts file: eval on a saved file and
// the scan that saved it give the same results. Only the part of the facts
// sh names is converted (nil: all of it; see prune.go).
func buildInputs(f *collectors.Facts, sh *shape) (*inputs, error) {
	var c converter
	t, err := c.shaped(reflect.ValueOf(f), sh)
	if err != nil {
		return nil, fmt.Errorf("convert facts: %w", err)
	}
	root, ok := t.Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("convert facts: not an object")
	}
	in := &inputs{}
	var clusters *ast.Array
	if t := root.Get(keyClusters); t != nil {
		clusters, _ = t.Value.(*ast.Array)
	}
	if clusters == nil {
		clusters = ast.NewArray()
	}
	in.fleetMini = ast.NewTerm(ast.NewObject(
		ast.Item(ast.StringTerm("inventory"), ast.StringTerm(f.Inventory)),
		ast.Item(ast.StringTerm("profile"), ast.StringTerm(f.Profile)),
	))
	in.fleet = ast.NewObject(ast.Item(keyFleet, ast.NewTerm(ast.NewObject(
		ast.Item(ast.StringTerm("inventory"), ast.StringTerm(f.Inventory)),
		ast.Item(ast.StringTerm("profile"), ast.StringTerm(f.Profile)),
		ast.Item(keyClusters, ast.NewTerm(clusters)),
	))))
	for i := 0; i < clusters.Len(); i++ {
		co, ok := clusters.Elem(i).Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("convert facts: cluster %d is not an object", i)
		}
		in.clusters = append(in.clusters, co)
		mini := ast.NewObject()
		co.Foreach(func(k, v *ast.Term) {
			if !k.Equal(keyMembers) {
				mini.Insert(k, v)
			}
		})
		in.clusterMini = append(in.clusterMini, ast.NewTerm(mini))
		var ms []*ast.Term
		if t := co.Get(keyMembers); t != nil {
			if arr, ok := t.Value.(*ast.Array); ok {
				for j := 0; j < arr.Len(); j++ {
					ms = append(ms, arr.Elem(j))
				}
			}
		}
		in.members = append(in.members, ms)
	}
	return in, nil
}

func (in *inputs) clusterInput(i int) ast.Value {
	return ast.NewObject(
		ast.Item(keyCluster, ast.NewTerm(in.clusters[i])),
		ast.Item(keyFleet, in.fleetMini),
	)
}

func (in *inputs) memberInput(i, j int) ast.Value {
	return ast.NewObject(
		ast.Item(keyMember, in.members[i][j]),
		ast.Item(keyCluster, in.clusterMini[i]),
		ast.Item(keyFleet, in.fleetMini),
	)
}

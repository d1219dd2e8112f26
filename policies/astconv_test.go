package policies

import (
	"bytes"
	"testing"

	"encoding/json"
	"github.com/open-policy-agent/opa/v1/ast"
)

// TestToASTMatchesJSON: the direct converter gives the same value as a JSON
// round trip, on the synthetic fleet and on every saved seed stage.
func TestToASTMatchesJSON(t *testing.T) {
	facts := []any{syntheticFleet(20)}
	for _, n := range []string{"seed-2.2.json", "seed-3.0.json", "seed-3.1.json", "seed-3.2.json"} {
		facts = append(facts, loadFacts(t, n))
	}
	for i, f := range facts {
		got, err := toAST(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(f)
		want, err := ast.ValueFromReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("facts %d: toAST differs from the JSON round trip\n got %v\nwant %v", i, got, want)
		}
	}
}

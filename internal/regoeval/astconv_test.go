package regoeval

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// TestToASTMatchesJSON: the direct converter gives the same value as a JSON
// round trip, on every saved facts file.
func TestToASTMatchesJSON(t *testing.T) {
	files, err := filepath.Glob("../../testdata/facts/*.json")
	if err != nil || len(files) < 5 {
		t.Fatalf("facts files: %v %v", files, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var f collectors.Facts
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := toAST(&f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = json.Marshal(&f)
		want, err := ast.ValueFromReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%s: toAST differs from the JSON round trip\n got %v\nwant %v", name, got, want)
		}
	}
}

package policies

import (
	"context"
	"strings"
	"testing"
)

// TestPackRegoTests runs the bundled pack's *_test.rego files: every
// control's pass, fail, skip and missing-fact cases.
func TestPackRegoTests(t *testing.T) {
	rs, err := RunTests(context.Background(), Config{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 50 {
		t.Errorf("only %d Rego tests ran", len(rs))
	}
	for _, r := range rs {
		if !r.Passed && !r.Skipped {
			t.Errorf("%s (%s) failed %s", r.Name, r.Location, r.Error)
		}
	}
	// Every control package has a test package beside it.
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.AllControls() {
		prefix := "data." + c.Package + "_test."
		found := false
		for _, r := range rs {
			found = found || strings.HasPrefix(r.Name, prefix)
		}
		if !found {
			t.Errorf("control %s (%s) has no tests (%s*)", c.ID, c.Package, prefix)
		}
	}
}

package remediate

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	planSchemaPath = "../schema/plan.schema.json"
	planSchemaURL  = "https://github.com/etcdaudit/etcdaudit/schema/plan.schema.json"
)

// validatePlanSchema checks a produced plan against schema/plan.schema.json
// (read from the repository, never the network), formats asserted.
func validatePlanSchema(t testing.TB, doc []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	f, err := os.Open(planSchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sch, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", planSchemaPath, err)
	}
	if err := c.AddResource(planSchemaURL, sch); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(planSchemaURL)
	if err != nil {
		t.Fatalf("compile %s: %v", planSchemaPath, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("produced JSON does not parse: %v", err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("produced plan does not fit %s: %v", planSchemaPath, err)
	}
}

func TestPlanSchemaRejects(t *testing.T) {
	bad := []byte(`{"schema":"etcdaudit.plan/v1","tool_version":"x","created_at":"2026-12-04T12:00:00Z","inventory":"f","target":"3.7.3","via":{},"actions":[],"clusters":[{"name":"a","fingerprint":"nope","facts":{"cluster":"a","leader":"","cluster_version":"","members":[]},"steps":[]}]}`)
	c := jsonschema.NewCompiler()
	f, err := os.Open(planSchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sch, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(planSchemaURL, sch); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(planSchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s.Validate(v) == nil {
		t.Error("a plan with a malformed fingerprint fits the schema")
	}
}

package report

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/etcdaudit/etcdaudit/results"
)

const (
	reportSchemaPath = "../schema/report.schema.json"
	reportSchemaURL  = "https://github.com/etcdaudit/etcdaudit/schema/report.schema.json"
	factsSchemaPath  = "../schema/facts.schema.json"
	factsSchemaURL   = "https://github.com/etcdaudit/etcdaudit/schema/facts.schema.json"
)

// reportSchema compiles schema/report.schema.json with the facts schema it
// references, both from the repository (never the network), asserting
// formats (date-time) as well.
func reportSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, path := range map[string]string{reportSchemaURL: reportSchemaPath, factsSchemaURL: factsSchemaPath} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	s, err := c.Compile(reportSchemaURL)
	if err != nil {
		t.Fatalf("compile %s: %v", reportSchemaPath, err)
	}
	return s
}

// validateReport checks one produced JSON document against the schema.
func validateReport(t testing.TB, s *jsonschema.Schema, doc []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("produced JSON does not parse: %v", err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("produced report does not fit %s: %v", reportSchemaPath, err)
	}
}

func TestJSONReportsFitTheSchema(t *testing.T) {
	s := reportSchema(t)
	r := loadFixture(t)
	for _, o := range []Options{{}, {IncludeFacts: true}} {
		var buf bytes.Buffer
		if err := Render(&buf, "json", r, o); err != nil {
			t.Fatal(err)
		}
		validateReport(t, s, buf.Bytes())
		back, err := ReadJSON(&buf)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if (back.Facts != nil) != o.IncludeFacts {
			t.Errorf("IncludeFacts=%v but facts present=%v", o.IncludeFacts, back.Facts != nil)
		}
		if len(back.Results) != len(r.Results) || back.Summary.Overall != r.Summary.Overall {
			t.Errorf("round trip lost results: %d/%v, want %d/%v", len(back.Results), back.Summary.Overall, len(r.Results), r.Summary.Overall)
		}
	}
	// An empty scan (no clusters judged) is still a valid document.
	var buf bytes.Buffer
	empty := &results.Report{ScanID: "x"}
	if err := Render(&buf, "json", empty, Options{}); err != nil {
		t.Fatal(err)
	}
	validateReport(t, s, buf.Bytes())
}

// TestSchemaRejects proves the schema is not a rubber stamp: each mutation
// of a valid report must fail validation.
func TestSchemaRejects(t *testing.T) {
	s := reportSchema(t)
	var buf bytes.Buffer
	if err := Render(&buf, "json", loadFixture(t), Options{}); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"unknown status":        func(m map[string]any) { res(m, 0)["status"] = "ok" },
		"result without status": func(m map[string]any) { delete(res(m, 0), "status") },
		"waived without waiver": func(m map[string]any) { res(m, 1)["status"] = "waived" },
		"other schema":          func(m map[string]any) { m["schema"] = "etcdaudit.report/v2" },
		"bad time":              func(m map[string]any) { m["started_at"] = "yesterday" },
		"impact above 1":        func(m map[string]any) { m["controls"].([]any)[0].(map[string]any)["impact"] = 7 },
		"unknown field":         func(m map[string]any) { m["password"] = "hunter2" },
		"no summary":            func(m map[string]any) { delete(m, "summary") },
	} {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := s.Validate(v); err == nil {
			t.Errorf("%s: schema accepted it", name)
		}
	}
}

func res(m map[string]any, i int) map[string]any { return m["results"].([]any)[i].(map[string]any) }

func TestReadJSONRefusesOtherDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"facts file":  `{"schema":"etcdaudit.facts/v1","clusters":[]}`,
		"no schema":   `{"results":[]}`,
		"garbage":     `{"schema":`,
		"bad status":  `{"schema":"etcdaudit.report/v1","results":[{"control":"X","status":"green"}]}`,
		"no control":  `{"schema":"etcdaudit.report/v1","results":[{"status":"passed"}]}`,
		"not json":    `<html>`,
		"wrong types": `{"schema":"etcdaudit.report/v1","results":"many"}`,
	} {
		if _, err := ReadJSON(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

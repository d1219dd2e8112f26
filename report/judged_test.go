package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/policies"
)

// TestRealJudgedReports renders reports the policies engine judged from the
// saved facts of every seed stage (2.2 → 3.2), with waivers, through every
// format: the JSON fits the schema, JUnit fits junit-10, the Prometheus text
// parses and lints. Fixtures written by hand cannot drift from the real
// pipeline this way.
func TestRealJudgedReports(t *testing.T) {
	files, _ := filepath.Glob("../testdata/facts/seed-*.json")
	if len(files) == 0 {
		t.Skip("no saved facts under testdata/facts")
	}
	ctx := t.Context()
	eng, err := policies.New(ctx, policies.Config{DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := policies.LoadWaivers("../testdata/waivers/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := reportSchema(t)
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var facts collectors.Facts
			if err := json.Unmarshal(raw, &facts); err != nil {
				t.Fatal(err)
			}
			r, err := policies.Judge(ctx, eng, &facts, w, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Results) == 0 {
				t.Fatal("judge produced no results")
			}
			for _, f := range registry {
				var buf bytes.Buffer
				if err := Render(&buf, f.name, r, Options{IncludeFacts: true, Now: func() time.Time { return now }}); err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				switch f.name {
				case "json":
					validateReport(t, schema, buf.Bytes())
				case "junit":
					for _, e := range checkJUnit10(parseXML(t, buf.Bytes()), "/testsuites") {
						t.Error(e)
					}
				case "prometheus":
					parseProm(t, buf.Bytes())
					problems, err := promlint.New(bytes.NewReader(buf.Bytes())).Lint()
					if err != nil || len(problems) > 0 {
						t.Errorf("promlint: %v %v", problems, err)
					}
				}
			}
		})
	}
}

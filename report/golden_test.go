package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current renderers")

// fixedNow is the clock every golden file is rendered with: five minutes
// after the fixture scan finished.
var fixedNow = func() time.Time { return time.Date(2026, 11, 26, 2, 5, 0, 0, time.UTC) }

const fixturePath = "../testdata/results/fleet.json"

func loadFixture(t testing.TB) *results.Report {
	t.Helper()
	f, err := os.Open(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ReadJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", fixturePath, err)
	}
	return r
}

func goldenOpts() Options {
	return Options{Now: fixedNow, Color: ColorNever}
}

// TestGolden renders the fixed fleet in every format and compares with the
// files under testdata/golden (go test ./report -run TestGolden -update to
// accept a change after reading the diff).
func TestGolden(t *testing.T) {
	cases := []struct {
		name, format string
		opts         func(*Options)
	}{
		{"fleet.cli.txt", "cli", nil},
		{"fleet.cli.verbose.txt", "cli", func(o *Options) { o.Verbose = true }},
		{"fleet.cli.color.txt", "cli", func(o *Options) { o.Color = ColorAlways }},
		{"fleet.json", "json", nil},
		{"fleet.facts.json", "json", func(o *Options) { o.IncludeFacts = true }},
		{"fleet.junit.xml", "junit", nil},
		{"fleet.html", "html", nil},
		{"fleet.md", "markdown", nil},
		{"fleet.prom", "prometheus", nil},
	}
	r := loadFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := goldenOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			var buf bytes.Buffer
			if err := Render(&buf, tc.format, r, o); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tc.name, buf.Bytes())
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; diff it with `go test ./report -run TestGolden -update && git diff %s`",
			name, path)
	}
}

// TestRenderersDoNotMutate renders every format and checks the report is
// deep-equal to a copy taken before: renderers share one report in a run.
func TestRenderersDoNotMutate(t *testing.T) {
	r := loadFixture(t)
	before := loadFixture(t)
	for _, f := range registry {
		for _, o := range []Options{{}, {Verbose: true, IncludeFacts: true, Color: ColorAlways}} {
			if err := Render(&bytes.Buffer{}, f.name, r, o); err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		}
	}
	if !reflect.DeepEqual(r, before) {
		t.Fatal("a renderer changed the report it was given")
	}
}

// TestRenderWithoutFacts: a JSON report saved without --include-facts still
// renders in every format; the HTML says how to get the drill-down back.
func TestRenderWithoutFacts(t *testing.T) {
	r := loadFixture(t)
	r.Facts = nil
	for _, f := range registry {
		var buf bytes.Buffer
		if err := Render(&buf, f.name, r, goldenOpts()); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if f.name == "html" && !bytes.Contains(buf.Bytes(), []byte("write the JSON with --include-facts")) {
			t.Error("html without facts does not say how to keep them")
		}
	}
}

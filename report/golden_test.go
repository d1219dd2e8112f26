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

// quickFixture is the fixture scan as a quick-profile run would judge it:
// ETCD-V2-001 is skipped on every member whose v2 API is on (the others have
// nothing to count), because v2_count was not collected; its failures there
// turn into the skips the summary line names, with the profile to use.
func quickFixture(t testing.TB) *results.Report {
	t.Helper()
	r := loadFixture(t)
	r.Facts.Profile = "quick"
	v2On := map[[2]string]bool{}
	for _, c := range r.Facts.Clusters {
		for _, m := range c.Members {
			v2On[[2]string{c.Name, m.Label()}] = m.V2 != nil && m.V2.Enabled
		}
	}
	for i := range r.Results {
		res := &r.Results[i]
		if res.Control == "ETCD-V2-001" && res.Status != results.Error && v2On[[2]string{res.Cluster, res.Member}] {
			res.Status, res.NotCollected = results.Skipped, "v2_count"
			res.Waiver, res.ExpiredWaiver = nil, nil // waivers judge failures only
			res.Messages = []string{"fact v2_count not collected: collector v2_count not selected in this run (collectors: version, status)"}
		}
	}
	r.Summary = results.Summarize(r.Results)
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
		quick        bool // render quickFixture instead
	}{
		{"fleet.cli.txt", "cli", nil, false},
		{"fleet.cli.verbose.txt", "cli", func(o *Options) { o.Verbose = true }, false},
		{"fleet.cli.color.txt", "cli", func(o *Options) { o.Color = ColorAlways }, false},
		{"fleet.json", "json", nil, false},
		{"fleet.facts.json", "json", func(o *Options) { o.IncludeFacts = true }, false},
		{"fleet.junit.xml", "junit", nil, false},
		{"fleet.html", "html", nil, false},
		{"fleet.md", "markdown", nil, false},
		{"fleet.prom", "prometheus", nil, false},
		{"fleet.quick.cli.txt", "cli", nil, true},
		{"fleet.quick.md", "markdown", nil, true},
		{"fleet.quick.html", "html", nil, true},
	}
	r := loadFixture(t)
	q := quickFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := goldenOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			in := r
			if tc.quick {
				in = q
			}
			var buf bytes.Buffer
			if err := Render(&buf, tc.format, in, o); err != nil {
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

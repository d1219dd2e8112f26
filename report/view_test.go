package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"etcd-0":               "etcd-0",
		"a\x1b[2Jb":            `a\u001b[2Jb`,
		"two\nlines":           `two\nlines`,
		"bad\xffbyte":          `bad\xffbyte`,
		"keep \uFFFD":          "keep \uFFFD",
		"rtl\u202eevil":        `rtl\u202eevil`,
		"unicode ✓ é 日本":       "unicode ✓ é 日本",
		"bell\x07 and del\x7f": `bell\u0007 and del\u007f`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                     "plain",
		"<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
		"a | b":                     `a \| b`,
		"**bold** _it_ `code`":      "\\*\\*bold\\*\\* \\_it\\_ \\`code\\`",
		"[link](http://x)":          `\[link\](http://x)`,
		"line\nbreak":               `line\\nbreak`,
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mdCode("ETCD-V2-001"); got != "`ETCD-V2-001`" {
		t.Errorf("mdCode plain = %q", got)
	}
	if got := mdCode("a`b"); got != "a\\`b" {
		t.Errorf("mdCode with backtick = %q", got)
	}
}

// TestVersionOrder: the version chart lists versions by semver precedence
// (a release candidate before its release, 3.10 after 3.9), unknown and
// unparsable versions last.
func TestVersionOrder(t *testing.T) {
	var members []collectors.MemberFacts
	for _, v := range []string{"unknown", "3.10.0", "3.4.23", "3.4.9", "v3.5.0-rc.1", "3.5.0", "garbage", "3.6.16", "3.5.35", "", "3.5.35"} {
		m := collectors.MemberFacts{}
		if v != "" {
			m.Version = &collectors.VersionFacts{Server: v}
		}
		members = append(members, m)
	}
	spread := versionSpread(&collectors.Facts{Clusters: []collectors.ClusterFacts{{Members: members}}})
	want := []versionCount{{"3.4.9", 1}, {"3.4.23", 1}, {"v3.5.0-rc.1", 1}, {"3.5.0", 1}, {"3.5.35", 2}, {"3.6.16", 1},
		{"3.10.0", 1}, {"garbage", 1}, {"unknown", 2}}
	if !slices.Equal(spread, want) {
		t.Errorf("spread %v\nwant   %v", spread, want)
	}
}

// TestViewGroupsEveryResult: each result lands in exactly one group, members
// known only from facts still appear, and an inconsistent summary is
// recomputed rather than trusted.
func TestViewGroupsEveryResult(t *testing.T) {
	r := loadFixture(t)
	v := newView(r)
	n := len(v.fleet)
	members := 0
	for _, c := range v.clusters {
		n += len(c.Results)
		for _, m := range c.Members {
			n += len(m.Results)
			members++
		}
	}
	if n != len(r.Results) {
		t.Errorf("view holds %d results, report %d", n, len(r.Results))
	}
	if members != 13 {
		t.Errorf("view has %d members, want 13", members)
	}
	broken := *r
	broken.Summary = results.Summary{Overall: results.Counts{Total: 1}}
	if s := summaryOf(&broken); s.Overall != r.Summary.Overall {
		t.Errorf("inconsistent summary trusted: %+v", s.Overall)
	}
	// Results naming a control the metadata lacks still render, titled by ID.
	odd := results.Report{Results: []results.Result{{Control: "X-1", Cluster: "c", Status: results.Failed}}}
	if got := newView(&odd).title("X-1"); got != "X-1" {
		t.Errorf("title of an undescribed control = %q", got)
	}
}

func TestMarkdownCapsLongTables(t *testing.T) {
	r := syntheticReport(1000, 20)
	var short, long strings.Builder
	if err := Render(&short, "markdown", r, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Render(&long, "markdown", r, Options{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(short.String(), "more subjects (all of them in the JSON or HTML report") {
		t.Error("long failing-control tables are not capped")
	}
	if short.Len() >= 65_536 || long.Len() <= short.Len() {
		t.Errorf("markdown %d bytes (verbose %d): want under 65,536 and verbose longer", short.Len(), long.Len())
	}
}

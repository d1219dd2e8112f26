package report

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSpecs(t *testing.T) {
	specs, err := ParseSpecs([]string{"cli", "json:out.json", "html:report.html", "md:t.md", "PROM:/var/lib/node_exporter/e.prom", "junit:a:b.xml"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{"cli", ""}, {"json", "out.json"}, {"html", "report.html"}, {"markdown", "t.md"},
		{"prometheus", "/var/lib/node_exporter/e.prom"}, {"junit", "a:b.xml"}}
	if len(specs) != len(want) {
		t.Fatalf("got %v", specs)
	}
	for i := range want {
		if specs[i] != want[i] {
			t.Errorf("spec %d = %v, want %v", i, specs[i], want[i])
		}
	}
	if s, err := ParseSpecs([]string{"json:-"}); err != nil || s[0].Path != "" {
		t.Errorf(`"json:-" should mean stdout: %v %v`, s, err)
	}
	if s, err := ParseSpecs(nil); err != nil || len(s) != 0 {
		t.Errorf("no flags: %v %v", s, err)
	}

	_, err = ParseSpecs([]string{"pdf:x", "cli", "json", "html:", "md:a.md", "junit:./a.md"})
	if err == nil {
		t.Fatal("bad specs accepted")
	}
	for _, msg := range []string{`unknown report format "pdf"`, "only one report can go to stdout", "empty path after ':'", "already writes"} {
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error does not say %q:\n%v", msg, err)
		}
	}
}

func TestWriteAllIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := loadFixture(t)
	bad := *r
	bad.Controls = slices.Clone(r.Controls)
	bad.Controls[0].Impact = math.NaN() // encoding/json refuses NaN
	err := WriteAll(t.Context(), []Spec{{"json", path}}, &bad, Options{})
	if err == nil || !strings.Contains(err.Error(), "report json to "+path) {
		t.Fatalf("want an error naming format and path, got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Fatalf("a failed render replaced the file: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	if err := WriteAll(t.Context(), []Spec{{"json", path}}, r, Options{}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("report mode %v, want 0644 so node_exporter can read it", st.Mode().Perm())
	}
	if _, err := ReadJSON(mustOpen(t, path)); err != nil {
		t.Fatalf("written report does not read back: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(t.Context(), []Spec{{"json", path}}, r, Options{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rewrite changed the operator's mode 0600 to %v", st.Mode().Perm())
	}
}

func TestWriteAllStdoutErrorAndCancel(t *testing.T) {
	r := loadFixture(t)
	err := WriteAll(t.Context(), []Spec{{"cli", ""}}, r, Options{Stdout: failingWriter{}})
	if err == nil || !strings.Contains(err.Error(), "report cli to stdout") {
		t.Fatalf("stdout write error not reported: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dir := t.TempDir()
	err = WriteAll(ctx, []Spec{{"html", filepath.Join(dir, "r.html")}}, r, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("wrote a report after cancellation")
	}
}

func TestNewUnknownFormat(t *testing.T) {
	if _, err := New("pdf", Options{}); err == nil || !strings.Contains(err.Error(), "known: cli, json, junit, html, markdown, prometheus") {
		t.Fatalf("unknown format error does not list the known ones: %v", err)
	}
	if err := Render(&strings.Builder{}, "json", nil, Options{}); err == nil {
		t.Fatal("nil report accepted")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestParseSpecsSameFile: two --report flags naming one file by different
// spellings are refused, naming both flags; before, the second silently
// overwrote the first.
func TestParseSpecsSameFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("x.json", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("x.json", "link.json"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link("x.json", "hard.json"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("real", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", "alias"); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "x.json")
	for _, pair := range [][2]string{
		{"json:x.json", "html:" + abs},
		{"json:x.json", "junit:./sub/../x.json"},
		{"json:x.json", "md:link.json"},
		{"json:x.json", "md:hard.json"},
		{"json:real/new.json", "md:alias/new.json"}, // not yet there, under a linked directory
	} {
		_, err := ParseSpecs(pair[:])
		if err == nil {
			t.Errorf("%v accepted", pair)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("--report %q", pair[0])) || !strings.Contains(msg, fmt.Sprintf("--report %q", pair[1])) {
			t.Errorf("%v: error does not name both flags: %v", pair, err)
		}
	}
	if _, err := ParseSpecs([]string{"json:x.json", "md:real/x.json"}); err != nil {
		t.Errorf("two different files refused: %v", err)
	}
}

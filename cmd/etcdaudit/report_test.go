package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const savedReport = "../../testdata/results/fleet.json"

func runReportCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestReportRerendersSavedJSON: every format from the saved fixture, files
// written, cli on stdout, and the facts kept through a JSON → JSON round trip.
func TestReportRerendersSavedJSON(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	code, stdout, stderr := runReportCLI(t, "report", "--from", savedReport, "--color", "never",
		"--report", "cli", "--report", "json:"+p("r.json"), "--report", "html:"+p("r.html"),
		"--report", "junit:"+p("r.xml"), "--report", "md:"+p("r.md"), "--report", "prometheus:"+p("r.prom"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "78 results: 16 failed, 6 error, 2 skipped, 3 waived, 51 passed") {
		t.Errorf("cli summary missing from stdout:\n%s", stdout)
	}
	for _, n := range []string{"r.json", "r.html", "r.xml", "r.md", "r.prom"} {
		st, err := os.Stat(p(n))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", n, err)
		}
		if !strings.Contains(stderr, p(n)) {
			t.Errorf("stderr does not say where %s went: %s", n, stderr)
		}
	}
	j, _ := os.ReadFile(p("r.json"))
	if !bytes.Contains(j, []byte(`"facts": {`)) {
		t.Error("re-rendered JSON dropped the facts")
	}
	code, _, stderr = runReportCLI(t, "report", "--from", p("r.json"), "--include-facts=false", "--report", "json:"+p("slim.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	slim, _ := os.ReadFile(p("slim.json"))
	if bytes.Contains(slim, []byte(`"facts"`)) {
		t.Error("--include-facts=false kept the facts")
	}
}

func TestReportExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"results do not set the exit code by default", []string{"--from", savedReport, "--report", "markdown"}, 0, ""},
		{"--exit-code mirrors scan", []string{"--from", savedReport, "--exit-code", "--report", "markdown"}, 100, ""},
		{"missing --from", []string{}, 1, "--from is required"},
		{"unreadable file", []string{"--from", filepath.Join(dir, "nope.json")}, 1, "no such file"},
		{"not a report", []string{"--from", "../../go.mod"}, 1, "not a JSON report"},
		{"unknown format", []string{"--from", savedReport, "--report", "pdf:x.pdf"}, 1, `unknown report format "pdf"`},
		{"two to stdout", []string{"--from", savedReport, "--report", "cli", "--report", "json"}, 1, "only one report can go to stdout"},
		{"bad colour", []string{"--from", savedReport, "--color", "rainbow"}, 1, "--color"},
		{"unwritable path", []string{"--from", savedReport, "--report", "html:" + filepath.Join(dir, "no", "such", "dir", "r.html")}, 1, "report html to"},
		{"bad pushgateway", []string{"--from", savedReport, "--report", "markdown", "--pushgateway", "ftp://x"}, 1, "want an http(s):// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runReportCLI(t, append([]string{"report"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.msg != "" && !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.msg)
			}
		})
	}
}

// TestReportFailedSpecDoesNotStopOthers: one unwritable path fails the run
// (exit 1, naming format and path) but the other reports are still written.
func TestReportFailedSpecDoesNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "missing", "r.xml")
	good := filepath.Join(dir, "r.md")
	code, _, stderr := runReportCLI(t, "report", "--from", savedReport, "--report", "junit:"+bad, "--report", "markdown:"+good)
	if code != 1 || !strings.Contains(stderr, "report junit to "+bad) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(good); err != nil {
		t.Fatalf("the good report was not written: %v", err)
	}
}

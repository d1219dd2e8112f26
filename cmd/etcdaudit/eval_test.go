package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/etcdaudit/etcdaudit/results"
)

const seedData = "../../testdata/facts/seed-baseline.yaml"

func facts(name string) string { return filepath.Join("..", "..", "testdata", "facts", name) }

// TestEvalExitCodes: 0 nothing failed (skips allowed), 101 only with
// --strict when something was skipped, 100 a failure, 1 the tool itself —
// never 100 for that.
func TestEvalExitCodes(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte(`{"schema": "etcdaudit.facts/v1", "clusters": [{"name": 7}]}`), 0o600)
	notFacts := filepath.Join(dir, "report.json")
	os.WriteFile(notFacts, []byte(`{"schema": "etcdaudit.report/v1"}`), 0o600)
	for _, c := range []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"eval", "--facts", facts("seed-3.2.json"), "--data", seedData}, 0, "skipped"},
		{[]string{"eval", "--facts", facts("seed-3.2.json"), "--data", seedData, "--strict"}, 101, ""},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--data", seedData}, 100, "ETCD-K8S-004"},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--data", seedData, "--controls", "ETCD-HEALTH-00[1-4]"}, 0, ""},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--controls", "ETCD-NOPE"}, 1, `--controls "ETCD-NOPE" matches no control`},
		{[]string{"eval"}, 1, "--facts is required"},
		{[]string{"eval", "--facts", filepath.Join(dir, "missing.json")}, 1, "no such file"},
		{[]string{"eval", "--facts", garbage}, 1, "field clusters.name: got JSON number"},
		{[]string{"eval", "--facts", notFacts}, 1, `schema "etcdaudit.report/v1", want "etcdaudit.facts/v1"`},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--policy", "../../testdata/policies/bad-syntax"}, 1, "broken.rego:11"},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--data", "../../testdata/policies/data-wrong-type.yaml"}, 1, "baseline.lease_coverage_min: want a number"},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--waivers", "../../testdata/waivers/unknown-control.yaml"}, 1, `unknown control "ETCD-NOPE-999"`},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--waivers", "../../testdata/waivers/malformed.yaml"}, 1, "malformed.yaml:4"},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--report", "nope:x"}, 1, "unknown report format"},
		{[]string{"eval", "--facts", facts("seed-3.1.json"), "--report", "json:" + filepath.Join(dir, "no", "such", "dir", "r.json")}, 1, "report json to"},
	} {
		code, out, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out+stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, tail(out), stderr)
		}
	}
}

// TestEvalStdin: "--facts -" reads the document from standard input.
func TestEvalStdin(t *testing.T) {
	b, err := os.ReadFile(facts("seed-3.2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	root := newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader(string(b)))
	root.SetArgs([]string{"eval", "--facts", "-", "--data", seedData, "--report", "json"})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), `"schema": "etcdaudit.report/v1"`) {
		t.Errorf("stdout is not the JSON report: %.300s", out.String())
	}
}

func tail(s string) string {
	if len(s) > 600 {
		return "…" + s[len(s)-600:]
	}
	return s
}

// TestEvalWaiversAndReports: a live waiver turns failures into waived (exit
// 0 when nothing else fails), the JSON report is written and the cli
// summary still goes to stdout.
func TestEvalWaiversAndReports(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.yaml")
	os.WriteFile(w, []byte("waivers:\n  - control: ETCD-K8S-004\n    cluster: k8s-*\n    justification: lease attach scheduled (CHG-42)\n    expires: 2099-01-01\n"), 0o600)
	out := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "eval", "--facts", facts("seed-3.1.json"), "--data", seedData, "--waivers", w,
		"--controls", "ETCD-K8S-*", "--report", "json:"+out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	r := loadJSONReport(t, out)
	if r.Summary.Overall.Waived != 1 || r.Summary.Overall.Failed != 0 || len(r.Controls) != 4 {
		t.Errorf("summary %+v, %d controls", r.Summary.Overall, len(r.Controls))
	}
	st, _ := statusOf(r, "ETCD-K8S-004", "k8s-westus2-test", "")
	if st != results.Waived || !strings.Contains(stdout, "waived") {
		t.Errorf("K8S-004 %s; stdout:\n%s", st, stdout)
	}
}

func TestPolicyCommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"policy", "list"}, 0, "ETCD-V2-001      member   0.9     migrate-v2-to-v3"},
		{[]string{"policy", "list", "--tags", "kubernetes", "-o", "json"}, 0, `"id": "ETCD-K8S-004"`},
		{[]string{"policy", "check"}, 0, "ok: 24 controls (14 member, 9 cluster, 1 fleet)"},
		{[]string{"policy", "check", "../../testdata/policies/good"}, 0, "ok: 25 controls"},
		{[]string{"policy", "check", "../../testdata/policies/dup-id"}, 1, "control id TEST-DUP-001 used by 2 packages"},
		{[]string{"policy", "check", "../../testdata/policies/no-id"}, 1, "noid.rego:1: package etcdaudit.controls.test.noid: control without an id"},
		{[]string{"policy", "check", "--data", "../../testdata/policies/data-wrong-type.yaml"}, 1, "data-wrong-type.yaml:3"},
		{[]string{"policy", "test"}, 0, "PASS: "},
		{[]string{"policy", "test", "../../testdata/policies/good", "--no-builtin", "-v"}, 0, "PASS: 2/2"},
		{[]string{"policy", "test", "../../testdata/policies/failing-test", "--run", "known_bad"}, 1, "FAIL: data.etcdaudit.controls.versions.known_bad_failing_test.test_expect_wrong"},
	} {
		code, out, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out+stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, tail(out), stderr)
		}
	}
}

// TestEvalSandbox: a --policy calling http.send stops eval and policy test
// with the file, line, builtin and flag, and the listener receives
// nothing; with --allow-net-builtins the control reaches it once per
// member.
func TestEvalSandbox(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := t.TempDir()
	src := "# METADATA\n# title: exfil\n# custom:\n#   id: TEST-EXFIL-001\n#   impact: 0.5\n#   scope: member\npackage etcdaudit.controls.test.exfil\n\n" +
		"deny contains \"sent\" if {\n\thttp.send({\"method\": \"GET\", \"url\": sprintf(\"" + srv.URL + "/exfil?m=%s\", [input.member.name])}).status_code == 200\n}\n"
	file := filepath.Join(dir, "exfil.rego")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := file + ":10: builtin http.send is not allowed"
	for _, args := range [][]string{
		{"eval", "--facts", facts("seed-3.1.json"), "--policy", dir},
		{"policy", "test", dir},
		{"policy", "check", dir},
	} {
		code, out, stderr := runCLI(t, args...)
		if code != 1 || !strings.Contains(out+stderr, want) || !strings.Contains(out+stderr, "--allow-net-builtins") {
			t.Errorf("%v: exit %d, want 1 with %q and the flag\n%s%s", args, code, want, tail(out), stderr)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the listener received %d requests without the flag", n)
	}
	code, out, stderr := runCLI(t, "eval", "--facts", facts("seed-3.1.json"), "--policy", dir, "--no-builtin", "--allow-net-builtins")
	if code != 100 || !strings.Contains(out, "TEST-EXFIL-001") {
		t.Errorf("with --allow-net-builtins: exit %d, want 100 (the control fails)\n%s%s", code, tail(out), stderr)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("with --allow-net-builtins the listener received %d requests, want 3 (one per member)", n)
	}
}

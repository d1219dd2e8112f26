package policies

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/etcdaudit/etcdaudit/results"
)

// exfilPolicies writes a member control that sends each member's name to
// url with http.send and resolves a name with net.lookup_ip_addr, and a
// test that calls the control, into a new folder.
func exfilPolicies(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	writeMemberControl(t, dir, "exfil", "send", fmt.Sprintf(`deny contains "sent" if {
	resp := http.send({"method": "GET", "url": sprintf("%s/exfil?m=%%s", [input.member.name]), "timeout": "2s"})
	resp.status_code == 200
}

deny contains "resolved" if {
	count(net.lookup_ip_addr("localhost")) > 0
}
`, url))
	test := "package etcdaudit.controls.test.exfil_send_test\n\nimport data.etcdaudit.controls.test.exfil_send as c\n\n" +
		"test_sends if \"sent\" in c.deny with input as {\"member\": {\"name\": \"m1\"}}\n"
	if err := os.WriteFile(filepath.Join(dir, "exfil_send_test.rego"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// listener counts the requests a policy makes.
func listener(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestSandboxRefusesNetBuiltins: a policy calling http.send or
// net.lookup_ip_addr does not compile — for a scan (New) and for policy
// test (RunTests) — with an error naming the file, the line, the builtin
// and the flag; the listener receives nothing.
func TestSandboxRefusesNetBuiltins(t *testing.T) {
	srv, hits := listener(t)
	dir := exfilPolicies(t, srv.URL)
	file := filepath.Join(dir, "exfil_send.rego")
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: a policy calling http.send compiled", what)
		}
		for _, want := range []string{
			file + ":12: builtin http.send is not allowed", "--allow-net-builtins",
			file + ":17: builtin net.lookup_ip_addr is not allowed",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", what, want, err)
			}
		}
	}
	_, err := New(context.Background(), Config{PolicyDirs: []string{dir}})
	check("New", err)
	_, err = RunTests(context.Background(), Config{PolicyDirs: []string{dir}, NoBuiltin: true}, "")
	check("RunTests", err)
	if n := hits.Load(); n != 0 {
		t.Errorf("the listener received %d requests", n)
	}
}

// TestSandboxAllowNetBuiltins: with AllowNetBuiltins the same policy runs
// and reaches the listener, once per member; its test passes.
func TestSandboxAllowNetBuiltins(t *testing.T) {
	if _, err := net.LookupIP("localhost"); err != nil {
		t.Skipf("no resolver for localhost here: %v", err)
	}
	srv, hits := listener(t)
	dir := exfilPolicies(t, srv.URL)
	e, err := New(context.Background(), Config{PolicyDirs: []string{dir}, NoBuiltin: true, AllowNetBuiltins: true})
	if err != nil {
		t.Fatal(err)
	}
	f := syntheticFleet(3)
	rs, err := e.Evaluate(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Status != results.Failed || strings.Join(r.Messages, ",") != "resolved,sent" {
			t.Errorf("%s/%s: %s %v, want failed [resolved sent]", r.Cluster, r.Member, r.Status, r.Messages)
		}
	}
	if n := hits.Load(); n != int64(countMembers(f)) {
		t.Errorf("the listener received %d requests, want one per member (%d)", n, countMembers(f))
	}
	trs, err := RunTests(context.Background(), Config{PolicyDirs: []string{dir}, NoBuiltin: true, AllowNetBuiltins: true}, "exfil")
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 || !trs[0].Passed {
		t.Errorf("policy test with the flag: %+v, want one passing test", trs)
	}
}

// TestSandboxCapabilities pins the sandbox to OPA's builtins: every
// builtin it leaves out exists in this OPA version, and every builtin OPA
// marks non-deterministic is either left out or known to read only the
// clock or the random source. An OPA upgrade that adds an I/O builtin
// fails here until it is sorted into one list or the other.
func TestSandboxCapabilities(t *testing.T) {
	all := map[string]bool{}
	for _, b := range capabilities(true).Builtins {
		all[b.Name] = b.Nondeterministic
	}
	for _, name := range NetBuiltins {
		if _, ok := all[name]; !ok {
			t.Errorf("%s is not an OPA builtin any more", name)
		}
	}
	sandboxed := map[string]bool{}
	for _, b := range capabilities(false).Builtins {
		sandboxed[b.Name] = true
	}
	localOnly := map[string]bool{"time.now_ns": true, "rand.intn": true, "uuid.rfc4122": true,
		"io.jwt.encode_sign": true, "io.jwt.encode_sign_raw": true, "io.jwt.decode_verify": true}
	for name, nondet := range all {
		switch {
		case slices.Contains(NetBuiltins, name) && sandboxed[name]:
			t.Errorf("%s is allowed without the flag", name)
		case nondet && !slices.Contains(NetBuiltins, name) && !localOnly[name]:
			t.Errorf("%s is non-deterministic and neither left out nor known to stay local: sort it", name)
		}
	}
}

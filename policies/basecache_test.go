package policies

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/results"
)

// TestBaseCacheWith: a worker's queries share what they read from the
// store, yet a `with data…` override in one rule never leaks into a plain
// read in another rule, the next control or the next member, whichever
// order they run in.
func TestBaseCacheWith(t *testing.T) {
	dir := t.TempDir()
	bodies := map[string]string{
		"a": "deny contains sprintf(\"with %v\", [d]) if d := days with data.etcdaudit.baseline.cert_expiry_days as 7\n" +
			"deny contains sprintf(\"plain %v\", [data.etcdaudit.baseline.cert_expiry_days]) if true\n" +
			"days := data.etcdaudit.baseline.cert_expiry_days\n",
		"b": "deny contains sprintf(\"plain %v %v\", [data.etcdaudit.baseline.db_quota_ratio_max, data.etcdaudit.baseline.cert_expiry_days]) if input.member.name != \"\"\n" +
			"deny contains sprintf(\"with %v\", [x]) if x := data.etcdaudit.baseline.cert_expiry_days with data.etcdaudit.baseline as {\"cert_expiry_days\": 9}\n",
	}
	for name, body := range bodies {
		writeMemberControl(t, dir, "base", name, body)
	}
	e, err := New(context.Background(), Config{PolicyDirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := e.Evaluate(context.Background(), syntheticFleet(40))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TEST-BASE-a": "plain 30, with 7", "TEST-BASE-b": "plain 0.8 30, with 9"}
	n := 0
	for _, r := range rs {
		if r.Status != results.Failed || strings.Join(r.Messages, ", ") != want[r.Control] {
			t.Fatalf("%s %s/%s: %s %v, want failed %s", r.Control, r.Cluster, r.Member, r.Status, r.Messages, want[r.Control])
		}
		n++
	}
	if n != 80 {
		t.Fatalf("%d results, want 80", n)
	}
}

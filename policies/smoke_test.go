package policies

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestMissingFactsNeverPass checks the generic needs mechanism: an
// unreachable member's controls are error (never passed), and a deny still
// fails when the facts it judged exist.
func TestMissingFactsNeverPass(t *testing.T) {
	e, err := New(context.Background(), Config{Controls: []string{"ETCD-VER-001", "ETCD-HEALTH-001"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &collectors.Facts{Clusters: []collectors.ClusterFacts{{Name: "c1", Members: []collectors.MemberFacts{
		{Name: "m1", Reachable: true, Version: &collectors.VersionFacts{Server: "3.4.23"}, Health: &collectors.HealthFacts{Healthy: true}},
		{Name: "m2", Reachable: false, UnreachableReason: "dial tcp: refused"},
	}}}}
	rs, err := e.Evaluate(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]results.Status{
		"m1/ETCD-VER-001": results.Failed, "m1/ETCD-HEALTH-001": results.Passed,
		"m2/ETCD-VER-001": results.Error, "m2/ETCD-HEALTH-001": results.Failed,
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(rs), len(want), rs)
	}
	for _, r := range rs {
		if got := r.Status; got != want[r.Member+"/"+r.Control] {
			t.Errorf("%s %s: %s %v, want %s", r.Member, r.Control, got, r.Messages, want[r.Member+"/"+r.Control])
		}
		if r.Member == "m2" && !strings.Contains(strings.Join(r.Messages, " "), "dial tcp: refused") {
			t.Errorf("%s %s: message %q does not carry the collector's error", r.Member, r.Control, r.Messages)
		}
	}
}

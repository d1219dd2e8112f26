package report

import (
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestProfileSkips: the line names the controls skipped for a collector the
// run left out, once each, and the cheapest profile that collects all of
// them; other skips do not count.
func TestProfileSkips(t *testing.T) {
	skip := func(id, coll string) results.Result {
		return results.Result{Control: id, Cluster: "c", Status: results.Skipped, NotCollected: coll}
	}
	cases := []struct {
		name, profile string
		rs            []results.Result
		want          string
	}{
		{"none", "quick", []results.Result{{Control: "A", Status: results.Skipped}, {Control: "B", Status: results.Passed}}, ""},
		{"quick", "quick", []results.Result{skip("ETCD-V2-001", "v2_count"), skip("ETCD-V2-001", "v2_count"), skip("ETCD-K8S-004", "event_leases")},
			"2 controls skipped because profile quick did not collect their facts (ETCD-K8S-004, ETCD-V2-001): run with --profile standard"},
		{"standard", "standard", []results.Result{skip("ETCD-HEALTH-005", "hashkv")},
			"1 control skipped because profile standard did not collect its facts (ETCD-HEALTH-005): run with --profile full"},
		{"dearest wins", "quick", []results.Result{skip("ETCD-V2-001", "v2_count"), skip("ETCD-HEALTH-005", "hashkv")},
			"2 controls skipped because profile quick did not collect their facts (ETCD-HEALTH-005, ETCD-V2-001): run with --profile full"},
		{"custom", "custom", []results.Result{skip("ETCD-K8S-004", "event_leases")},
			"1 control skipped because the run left out collector event_leases (ETCD-K8S-004): run with --profile standard and no --collectors/--exclude leaving it out"},
		{"unknown collector", "quick", []results.Result{skip("X-1", "from_the_future")},
			"1 control skipped because profile quick did not collect its facts (X-1): run with --profile full"},
	}
	for _, tc := range cases {
		r := &results.Report{Results: tc.rs, Facts: &collectors.Facts{Profile: tc.profile}}
		if got := profileSkips(r); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

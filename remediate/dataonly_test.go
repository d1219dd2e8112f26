package remediate

import (
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestPlanDataActionsOnTheirOwn: a 3.5 cluster holding custom v2 data, with
// no version control failing (no hop to make), gets the v2 data steps on
// their own when a data planner is given; without v2 served and counted on
// every member, or on 3.6, they stay not planned, with the reason.
func TestPlanDataActionsOnTheirOwn(t *testing.T) {
	data := testData(t)
	rep := &results.Report{Controls: []results.Control{{ID: "ETCD-V2-001", Remediation: ActionMigrateV2}}}
	rep.Results = []results.Result{{Control: "ETCD-V2-001", Cluster: "d", Member: "m1", Status: results.Failed}}
	plan := func(ms ...fm) ClusterPlan {
		t.Helper()
		facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{testCluster("d", "small", ms...)}}
		p, err := MakePlan(rep, facts, nil, data, testOptions(Options{Target: "3.5.35", Data: V2Planner{BackupDir: "/b", Now: testOptions(Options{}).Now}}))
		if err != nil {
			t.Fatal(err)
		}
		return p.Clusters[0]
	}
	c := plan(fm{"m1", "3.5.35", true, 30})
	var kinds []string
	for _, s := range c.Steps {
		kinds = append(kinds, s.Kind)
		if !strings.HasPrefix(s.ID, "v2-data/migrate/") {
			t.Errorf("step id %q", s.ID)
		}
	}
	if got := strings.Join(kinds, ","); c.Refused != "" || got != "v2-dump,stop-writers,v2-copy,backup,switch-backend,v2-cleanup" || len(c.NotPlanned) != 0 {
		t.Fatalf("refused %q, steps %s, not planned %+v", c.Refused, got, c.NotPlanned)
	}
	if ctl := c.Steps[0].Controls; len(ctl) != 1 || ctl[0] != "ETCD-V2-001" {
		t.Errorf("motivated by %v", ctl)
	}
	for name, ms := range map[string][]fm{
		"v2 off on a member": {{"m1", "3.5.35", true, 30}, {"m2", "3.5.35", false, -1}},
		"on 3.6":             {{"m1", "3.6.16", true, 30}},
	} {
		c := plan(ms...)
		if len(c.Steps) != 0 || len(c.NotPlanned) != 1 || c.NotPlanned[0].Action != ActionMigrateV2 {
			t.Errorf("%s: steps %d, not planned %+v", name, len(c.Steps), c.NotPlanned)
		}
	}
}

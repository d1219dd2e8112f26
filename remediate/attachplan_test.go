package remediate

import (
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestPlanAttachEventLeases: a failing ETCD-K8S-004 plans a verified backup
// and one attach-leases step over the prefix the coverage was measured on,
// with or without an upgrade; a cluster still on etcd 2 is refused.
func TestPlanAttachEventLeases(t *testing.T) {
	data := testData(t)
	rep := func(withUpgrade bool) *results.Report {
		r := failingVersions()
		r.Controls = append(r.Controls, results.Control{ID: "ETCD-K8S-004", Remediation: ActionAttachEventLeases})
		r.Results = append(r.Results, results.Result{Control: "ETCD-K8S-004", Cluster: "k", Status: results.Failed})
		if withUpgrade {
			r.Results = append(r.Results, results.Result{Control: "ETCD-VER-002", Cluster: "k", Member: "m1", Status: results.Failed})
		}
		return r
	}
	cluster := func(version string) collectors.ClusterFacts {
		c := testCluster("k", "small", fm{"m1", version, true, -1})
		c.EventLeases = &collectors.LeaseCoverage{Prefix: "/kube/events/", Keys: 300, Leased: 120, Unleased: 180, Ratio: 0.4}
		return c
	}
	plan := func(r *results.Report, c collectors.ClusterFacts, o Options) *ClusterPlan {
		t.Helper()
		p, err := MakePlan(r, &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{c}}, nil, data, testOptions(o))
		if err != nil {
			t.Fatal(err)
		}
		return &p.Clusters[0]
	}

	c := plan(rep(false), cluster("3.7.3"), Options{})
	if c.Refused != "" || len(c.Steps) != 2 || len(c.NotPlanned) != 0 {
		t.Fatalf("plan %+v", c)
	}
	b, a := c.Steps[0], c.Steps[1]
	if b.Kind != KindBackup || b.Action != ActionAttachEventLeases || b.Backup == "" {
		t.Errorf("backup step %+v", b)
	}
	if a.Kind != KindAttachLeases || a.Prefix != "/kube/events/" || !a.Destructive || strings.Join(a.Controls, ",") != "ETCD-K8S-004" ||
		!strings.Contains(a.Description, "180 of 300 keys") {
		t.Errorf("attach step %+v", a)
	}
	for _, h := range a.Hooks {
		if h.Name != hookVerify {
			t.Errorf("attach step runs hook %s", h.Name)
		}
	}

	// With an upgrade: the leases first, then the hops.
	c = plan(rep(true), cluster("3.6.16"), Options{})
	if c.Refused != "" || len(c.Steps) < 4 || c.Steps[1].Kind != KindAttachLeases || c.Steps[2].Action != ActionUpgrade {
		t.Errorf("with an upgrade: %+v", c)
	}
	// --actions upgrade leaves the leases alone, saying so.
	c = plan(rep(true), cluster("3.6.16"), Options{Actions: []string{ActionUpgrade}})
	for _, s := range c.Steps {
		if s.Action == ActionAttachEventLeases {
			t.Errorf("attach planned though not asked for: %s", s.ID)
		}
	}
	if len(c.NotPlanned) != 1 || c.NotPlanned[0].Action != ActionAttachEventLeases {
		t.Errorf("not planned %+v", c.NotPlanned)
	}
	// etcd 2 has no leases.
	if c = plan(rep(false), cluster("2.3.8"), Options{}); !strings.Contains(c.Refused, "leases need the v3 API") {
		t.Errorf("etcd 2: refused %q", c.Refused)
	}
}

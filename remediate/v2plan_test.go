package remediate

import (
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestPlanV2DataBefore36: with a V2Planner, custom v2 data before the hop to
// 3.6 plans the data steps (after the hop's backup, before its restarts
// without --enable-v2), motivated by the upgrade and the v2 controls, which
// are then no longer "not planned"; the migration before 3.2 stays refused.
func TestPlanV2DataBefore36(t *testing.T) {
	data := testData(t)
	rep := failingVersions("v")
	rep.Results = append(rep.Results, results.Result{Control: "ETCD-V2-001", Cluster: "v", Member: "m1", Status: results.Failed})
	c := testCluster("v", "small", fm{"m1", "3.5.35", true, 12}, fm{"m2", "3.5.35", false, 12})
	o := testOptions(Options{Data: V2Planner{BackupDir: "/var/lib/etcdaudit/backups"}})
	p, err := MakePlan(rep, &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{c}}, nil, data, o)
	if err != nil {
		t.Fatal(err)
	}
	cp := p.Clusters[0]
	if cp.Refused != "" || len(cp.NotPlanned) != 0 {
		t.Fatalf("refused %q, not planned %+v", cp.Refused, cp.NotPlanned)
	}
	var kinds []string
	for _, s := range cp.Steps {
		kinds = append(kinds, s.Kind)
	}
	got := strings.Join(kinds, ",")
	if !strings.HasPrefix(got, "backup,v2-dump,stop-writers,v2-copy,backup,switch-backend,v2-cleanup,member-restart,") {
		t.Errorf("steps %s", got)
	}
	for _, s := range cp.Steps[1:7] {
		if strings.Join(s.Controls, ",") != "ETCD-VER-002,ETCD-V2-001" {
			t.Errorf("%s motivated by %v", s.ID, s.Controls)
		}
	}
	if d := cp.Steps[1]; !strings.HasSuffix(d.Backup, "_dump.jsonl") {
		t.Errorf("dump goes to %q", d.Backup)
	}
	for _, s := range cp.Steps {
		if s.Kind == KindSwitchBackend && (len(s.Hooks) < 2 || s.Hooks[0].Name != hookSetBackend || s.Hooks[1].Name != hookStartWriters) {
			t.Errorf("switch-backend hooks %+v", s.Hooks)
		}
		if s.Kind == KindStopWriters && (len(s.Hooks) < 1 || s.Hooks[0].Name != hookStopWriters) {
			t.Errorf("stop-writers hooks %+v", s.Hooks)
		}
	}
	// From 3.4 (v2 on by default), the hop to 3.5 turns --enable-v2 on
	// (3.5's default is off) so the data steps can read v2 on 3.5.
	c34 := testCluster("v", "small", fm{"m1", "3.4.23", true, 12})
	o34 := o
	o34.Via = map[string]string{"3.5": "3.5.35"}
	p, err = MakePlan(rep, &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{c34}}, nil, data, o34)
	if err != nil {
		t.Fatal(err)
	}
	var hop34 int
	for _, s := range p.Clusters[0].Steps {
		if s.Kind == KindMemberUpgrade && s.From == "3.4.23" {
			hop34++
			if strings.Join(s.FlagsAdd, ",") != "--enable-v2=true" {
				t.Errorf("3.4 -> 3.5 step %s adds %v", s.ID, s.FlagsAdd)
			}
		}
	}
	if hop34 != 1 || p.Clusters[0].Refused != "" {
		t.Errorf("3.4 start: %d hop steps, refused %q", hop34, p.Clusters[0].Refused)
	}
	// The 3.2 hop (2.x data) is still refused: no v3 API to copy through.
	old := testCluster("o", "small", fm{"m1", "2.3.8", true, 12})
	rep2 := failingVersions("o")
	o.Target = "3.2.32"
	p, err = MakePlan(rep2, &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{old}}, nil, data, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Clusters[0].Refused, "custom v2 data") {
		t.Errorf("2.3 -> 3.2 with v2 data: refused %q, steps %d", p.Clusters[0].Refused, len(p.Clusters[0].Steps))
	}
}

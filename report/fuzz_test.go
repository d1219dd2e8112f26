package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// FuzzRenderers feeds arbitrary names, messages and labels through every
// format: no panic, and each machine format still parses (JSON fits the
// schema, JUnit is well-formed, Prometheus text parses).
func FuzzRenderers(f *testing.F) {
	f.Add("c", "m", "ETCD-X", "msg", "tier", "/registry/<script>alert(1)</script>")
	f.Add("\x1b[2J", "a\nb", "\xff\xfe", "</td><script>x</script>", "\u202e", "\"'&<>")
	f.Add("", "", "", "", "", "")
	schema := reportSchema(f)
	f.Fuzz(func(t *testing.T, cluster, member, control, msg, label, key string) {
		if control == "" {
			control = "C"
		}
		if cluster == "" {
			member = "" // the model has no member outside a cluster (the schema says so too)
		}
		now := time.Unix(1_800_000_000, 0).UTC()
		r := &results.Report{
			Schema: results.ReportSchema, ScanID: msg, Inventory: label, StartedAt: now, FinishedAt: now.Add(time.Second),
			Controls: []results.Control{{ID: control, Title: msg, Scope: results.ScopeMember, Tags: []string{label}}},
			Results: []results.Result{
				{Control: control, Cluster: cluster, Member: member, Status: results.Failed, Messages: []string{msg, key}},
				{Control: control, Cluster: cluster, Status: results.Waived, Waiver: &results.Waiver{Control: control, Justification: msg, Expires: &now}},
				{Control: control, Status: results.Error, Messages: []string{key}},
			},
			Facts: &collectors.Facts{Schema: collectors.FactsSchema, Profile: "full", Collectors: []string{}, Clusters: []collectors.ClusterFacts{{
				Name: cluster, Labels: map[string]string{"tier": label, label: key}, Endpoints: []string{key},
				Members: []collectors.MemberFacts{{Name: member, Endpoint: key, Reachable: true,
					Version: &collectors.VersionFacts{Server: label},
					V2:      &collectors.V2Facts{Enabled: true, Counted: true, SampleKeys: []string{key}}}},
			}}},
		}
		r.Summary = results.Summarize(r.Results)
		for _, fm := range registry {
			var buf bytes.Buffer
			if err := Render(&buf, fm.name, r, Options{IncludeFacts: true, Verbose: true}); err != nil {
				t.Fatalf("%s: %v", fm.name, err)
			}
			switch fm.name {
			case "json":
				validateReport(t, schema, buf.Bytes())
			case "junit":
				parseXML(t, buf.Bytes())
			case "prometheus":
				parseProm(t, buf.Bytes())
			}
		}
	})
}

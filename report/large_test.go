package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// syntheticReport builds a fleet of n members in clusters of three, judged by
// nControls controls (a quarter cluster-scoped), with a realistic mix: most
// pass, some fail with long messages, a few error, skip or are waived.
func syntheticReport(n, nControls int) *results.Report {
	start := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	r := &results.Report{Schema: results.ReportSchema, ToolVersion: "bench", ScanID: "bench", Inventory: "synthetic",
		StartedAt: start, FinishedAt: start.Add(95 * time.Second)}
	tags := []string{"version", "v2", "kubernetes", "security", "health", "consistency", "leases", "tls"}
	for i := range nControls {
		scope := results.ScopeMember
		if i%4 == 3 {
			scope = results.ScopeCluster
		}
		r.Controls = append(r.Controls, results.Control{
			ID: fmt.Sprintf("ETCD-SYN-%03d", i), Title: fmt.Sprintf("Synthetic control number %d checks something specific", i),
			Description: "A synthetic control used to measure report size and rendering time on a large fleet.",
			Impact:      float64(i%10) / 10, Scope: scope, Tags: []string{tags[i%len(tags)], tags[(i+3)%len(tags)]},
			Refs: []string{"https://etcd.io/docs/v3.6/op-guide/"},
		})
	}
	versions := []string{"3.4.23", "3.5.17", "3.5.35", "3.6.16", "3.7.3"}
	tiers := []string{"small", "medium", "large"}
	regions := []string{"westeurope", "eastus", "southeastasia", "brazilsouth", "japaneast"}
	facts := &collectors.Facts{Schema: collectors.FactsSchema, Inventory: "synthetic", StartedAt: start, FinishedAt: r.FinishedAt}
	status := func(k int) (results.Status, []string, *results.Waiver) {
		switch h := (k * 2654435761) % 100; {
		case h < 8:
			return results.Failed, []string{fmt.Sprintf("observed value %d is outside the baseline; see the control's refs for the fix", k)}, nil
		case h < 11:
			return results.Error, []string{"fact missing: status (context deadline exceeded after 5s)"}, nil
		case h < 13:
			return results.Skipped, []string{"not applicable to this version"}, nil
		case h < 15:
			exp := start.Add(30 * 24 * time.Hour)
			return results.Waived, []string{"waived failure"}, &results.Waiver{Justification: "accepted until the Q1 upgrade window", Expires: &exp}
		}
		return results.Passed, nil, nil
	}
	k := 0
	for c := 0; c*3 < n; c++ {
		name := fmt.Sprintf("aks-%s-%04d", regions[c%len(regions)], c)
		cf := collectors.ClusterFacts{Name: name, Labels: map[string]string{"tier": tiers[c%3], "region": regions[c%len(regions)]}}
		for m := 0; m < 3 && c*3+m < n; m++ {
			mname := fmt.Sprintf("etcd-%d", m)
			ver := versions[(c+m/2)%len(versions)]
			cf.Members = append(cf.Members, collectors.MemberFacts{
				Name: mname, ID: fmt.Sprintf("%016x", c*3+m+1), Endpoint: fmt.Sprintf("https://10.%d.%d.%d:2379", c/250, c%250, m+1),
				Reachable: true, Started: true,
				Version:  &collectors.VersionFacts{Server: ver, Cluster: ver[:3] + ".0"},
				Status:   &collectors.StatusFacts{DBSize: 1 << 27, DBSizeInUse: 1 << 26, Leader: fmt.Sprintf("%016x", c*3+1), RaftTerm: 4, RaftIndex: 123456, RaftAppliedIndex: 123456},
				V2:       &collectors.V2Facts{Enabled: ver < "3.5", Counted: true, Keys: int64(c % 7)},
				V3:       &collectors.V3Facts{Keys: 50000, RegistryKeys: 49000, RegistryPresent: true, Revision: 100000},
				Backend:  &collectors.BackendFacts{Observed: "etcd3"},
				Security: &collectors.SecurityFacts{Scheme: "https", TLSVersion: "TLS 1.3"},
			})
			for i, ctl := range r.Controls {
				if ctl.Scope != results.ScopeMember {
					continue
				}
				st, msgs, w := status(k + i)
				r.Results = append(r.Results, results.Result{Control: ctl.ID, Cluster: name, Member: mname, Status: st, Messages: msgs, Waiver: w})
			}
			k += 7
		}
		cf.EventLeases = &collectors.LeaseCoverage{Prefix: "/registry/events/", Keys: 1000, Leased: 900, Unleased: 100, Ratio: 0.9}
		for i, ctl := range r.Controls {
			if ctl.Scope == results.ScopeCluster {
				st, msgs, w := status(k + i)
				r.Results = append(r.Results, results.Result{Control: ctl.ID, Cluster: name, Status: st, Messages: msgs, Waiver: w})
			}
		}
		facts.Clusters = append(facts.Clusters, cf)
	}
	r.Facts = facts
	r.Summary = results.Summarize(r.Results)
	return r
}

// TestLargeFleetHTML: 1,000 members × 20 controls stays under 5 MB and
// loads in Chromium (the script finishes: the page is usable).
func TestLargeFleetHTML(t *testing.T) {
	r := syntheticReport(1000, 20)
	var buf bytes.Buffer
	if err := Render(&buf, "html", r, Options{}); err != nil {
		t.Fatal(err)
	}
	size := buf.Len()
	t.Logf("html: %d results, %d bytes (%.2f MB)", len(r.Results), size, float64(size)/1e6)
	if size >= 5_000_000 {
		t.Fatalf("1,000-member report is %d bytes, over 5 MB", size)
	}
	for _, f := range []string{"json", "junit", "markdown", "prometheus", "cli"} {
		var b bytes.Buffer
		if err := Render(&b, f, r, Options{IncludeFacts: true}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", f, b.Len())
	}
	if testing.Short() {
		return
	}
	path := filepath.Join(t.TempDir(), "large.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dom := chromium(t, "--dump-dom", "file://"+path)
	t.Logf("chromium load + script + DOM dump: %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(string(dom), `data-ready="yes"`) {
		t.Fatal("script did not finish on the large report")
	}
	if !strings.Contains(string(dom), "334 of 334 clusters shown") {
		t.Error("large report does not show all 334 clusters")
	}
}

func BenchmarkRenderLargeFleet(b *testing.B) {
	r := syntheticReport(1000, 20)
	for _, f := range []string{"html", "json", "junit", "markdown", "prometheus", "cli"} {
		b.Run(f, func(b *testing.B) {
			var size int
			for b.Loop() {
				var buf bytes.Buffer
				if err := Render(&buf, f, r, Options{}); err != nil {
					b.Fatal(err)
				}
				size = buf.Len()
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

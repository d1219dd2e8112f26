// Package historytest makes synthetic, realistic judged scans of large
// fleets for the history, drift and service tests and benchmarks, where
// standing up 1,000 real etcd members is not possible. Real-fleet tests use
// internal/etcdtest instead.
package historytest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/results"
)

// Spec sizes a synthetic fleet.
type Spec struct {
	Clusters          int // default 1
	MembersPerCluster int // default 3
	MemberControls    int // member-scoped controls, default 14
	ClusterControls   int // cluster-scoped controls, default 6
	// Day moves the fleet along deterministically: versions upgrade, v2
	// keys come and go, leases erode, db sizes grow.
	Day   int
	Start time.Time // the scan of day 0; default 2026-01-01T02:00Z
	Seed  uint64
}

func (s Spec) withDefaults() Spec {
	if s.Clusters <= 0 {
		s.Clusters = 1
	}
	if s.MembersPerCluster <= 0 {
		s.MembersPerCluster = 3
	}
	if s.MemberControls <= 0 {
		s.MemberControls = 14
	}
	if s.ClusterControls <= 0 {
		s.ClusterControls = 6
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	}
	return s
}

// Report returns the judged scan of spec's day, facts attached.
func Report(spec Spec) *results.Report {
	spec = spec.withDefaults()
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(spec.Day)))
	started := spec.Start.Add(time.Duration(spec.Day) * 24 * time.Hour)
	facts := &collectors.Facts{
		Schema: collectors.FactsSchema, ToolVersion: "synthetic", Inventory: "synthetic-fleet",
		Profile: "full", Collectors: []string{"version", "status", "health", "alarms", "v2", "v3", "leases", "security"},
		StartedAt: started, FinishedAt: started.Add(90 * time.Second),
	}
	rep := &results.Report{
		Schema: results.ReportSchema, ToolVersion: "synthetic",
		ScanID:    started.Format("20060102T150405Z") + fmt.Sprintf("-%06x", spec.Day),
		Inventory: "synthetic-fleet", StartedAt: started, FinishedAt: started.Add(95 * time.Second),
	}
	for i := 0; i < spec.MemberControls; i++ {
		rep.Controls = append(rep.Controls, results.Control{ID: fmt.Sprintf("ETCD-M-%03d", i+1),
			Title: fmt.Sprintf("Member control %d", i+1), Impact: 0.5, Scope: results.ScopeMember, Tags: []string{"member"}})
	}
	for i := 0; i < spec.ClusterControls; i++ {
		rep.Controls = append(rep.Controls, results.Control{ID: fmt.Sprintf("ETCD-C-%03d", i+1),
			Title: fmt.Sprintf("Cluster control %d", i+1), Impact: 0.7, Scope: results.ScopeCluster, Tags: []string{"cluster"}})
	}
	certEnd := spec.Start.Add(400 * 24 * time.Hour)
	for c := 0; c < spec.Clusters; c++ {
		name := fmt.Sprintf("cluster-%04d", c)
		cf := collectors.ClusterFacts{Name: name, Labels: map[string]string{"region": []string{"eu", "us", "ap"}[c%3],
			"tier": []string{"small", "medium", "large"}[c%3]}, DeclaredBackend: "etcd3"}
		// Clusters upgrade one day each, in order, from day 10 on.
		version := "3.5.35"
		if spec.Day >= 10+c%300 {
			version = "3.6.16"
		}
		v2keys := int64(0)
		if c%50 == 0 && spec.Day%30 < 20 {
			v2keys = int64(5 + c%7)
		}
		events := int64(2000 + rng.IntN(200))
		leased := events
		if c%20 == 0 {
			leased = events * int64(100-spec.Day%60) / 100
		}
		for m := 0; m < spec.MembersPerCluster; m++ {
			ep := fmt.Sprintf("https://10.%d.%d.%d:2379", c/250, c%250, m+10)
			cf.Endpoints = append(cf.Endpoints, ep)
			reachable := !(c%97 == 0 && m == 0 && spec.Day%7 == 3)
			mf := collectors.MemberFacts{Name: fmt.Sprintf("%s-m%d", name, m), ID: fmt.Sprintf("%016x", uint64(c)<<8|uint64(m)),
				Endpoint: ep, ClientURLs: []string{ep}, PeerURLs: []string{fmt.Sprintf("https://10.%d.%d.%d:2380", c/250, c%250, m+10)},
				Started: true, Reachable: reachable}
			if !reachable {
				mf.UnreachableReason = "context deadline exceeded"
				mf.Errors = []collectors.FactError{{Collector: "status", Error: "dial " + ep + ": context deadline exceeded"}}
			} else {
				notAfter := certEnd.Add(time.Duration(c%90) * 24 * time.Hour)
				days := notAfter.Sub(started).Hours() / 24
				mf.Version = &collectors.VersionFacts{Server: version, Cluster: version[:3] + ".0"}
				mf.Status = &collectors.StatusFacts{DBSize: int64(50<<20) + int64(spec.Day)<<18 + int64(rng.IntN(1<<20)),
					DBSizeInUse: 40 << 20, Leader: fmt.Sprintf("%016x", uint64(c)<<8), RaftTerm: 7, RaftIndex: uint64(1e6 + spec.Day*1000),
					RaftAppliedIndex: uint64(1e6 + spec.Day*1000), Revision: int64(5e5 + spec.Day*900)}
				mf.Health = &collectors.HealthFacts{Healthy: true, LeaderPresent: true, ReadMS: 1.5 + rng.Float64()}
				mf.Alarms = &collectors.AlarmFacts{Alarms: []collectors.MemberAlarm{}}
				mf.V2 = &collectors.V2Facts{Enabled: !etcdversion.AtLeast(version, 3, 6) && v2keys > 0, Counted: true, Keys: v2keys}
				if !mf.V2.Enabled {
					mf.V2.Keys = 0
				}
				mf.V3 = &collectors.V3Facts{Keys: 12000 + int64(rng.IntN(500)), RegistryKeys: 11900, RegistryPresent: true, Revision: int64(5e5 + spec.Day*900)}
				backend := collectors.BackendEtcd3
				if mf.V2.Keys > 0 {
					backend = collectors.BackendMixed
				}
				mf.Backend = &collectors.BackendFacts{Observed: backend}
				yes := true
				mf.Security = &collectors.SecurityFacts{Scheme: "https", TLSVersion: "TLS1.3", CertNotAfter: &notAfter, CertDaysLeft: &days,
					CertSANs: []string{"localhost", "127.0.0.1"}, CertSubject: "CN=" + mf.Name, ClientCertRequired: &yes, AuthEnabled: &yes}
			}
			for _, col := range facts.Collectors {
				st := collectors.RunOK
				if !reachable {
					st = collectors.RunFailed
				}
				mf.Runs = append(mf.Runs, collectors.CollectorRun{Collector: col, State: st, DurationMS: 3 + 10*rng.Float64()})
			}
			cf.Members = append(cf.Members, mf)
			for i := 0; i < spec.MemberControls; i++ {
				r := results.Result{Control: rep.Controls[i].ID, Cluster: name, Member: mf.Name, Status: results.Passed}
				switch {
				case !reachable:
					r.Status, r.Messages = results.Error, []string{"member unreachable: facts missing"}
				case i == 0 && version == "3.5.35":
					r.Status, r.Messages = results.Failed, []string{"3.5.35 is behind the 3.6 target"}
				case i == 1 && mf.V2.Keys > 0:
					r.Status, r.Messages = results.Failed, []string{fmt.Sprintf("%d custom v2 keys present", mf.V2.Keys)}
				case i == 2 && c%40 == 1:
					r.Status, r.Messages = results.Waived, nil
					r.Waiver = &results.Waiver{Control: r.Control, Cluster: name, Justification: "legacy cluster, replaced in Q3"}
				case i == 3:
					r.Status, r.Messages = results.Skipped, []string{"no quota reported by 3.5"}
				}
				rep.Results = append(rep.Results, r)
			}
		}
		cf.EventLeases = &collectors.LeaseCoverage{Prefix: "/registry/events/", Revision: int64(5e5 + spec.Day*900), Keys: events,
			Leased: leased, Unleased: events - leased, Ratio: float64(leased) / float64(events), Leases: 12, Method: "full-kv",
			TTLBuckets: map[string]int64{"<=1h": leased}}
		cf.Consistency = &collectors.Consistency{MemberListsAgree: true, LeadersAgree: true, MembersCompared: spec.MembersPerCluster,
			VotingMembers: spec.MembersPerCluster, RaftIndexMin: 1e6, RaftIndexMax: 1e6}
		for i := 0; i < spec.ClusterControls; i++ {
			r := results.Result{Control: rep.Controls[spec.MemberControls+i].ID, Cluster: name, Status: results.Passed}
			if i == 0 && cf.EventLeases.Ratio < 0.95 {
				r.Status, r.Messages = results.Failed, []string{fmt.Sprintf("%d of %d events keys have no lease", events-leased, events)}
			}
			rep.Results = append(rep.Results, r)
		}
		facts.Clusters = append(facts.Clusters, cf)
	}
	rep.Facts = facts
	rep.Summary = results.Summarize(rep.Results)
	return rep
}

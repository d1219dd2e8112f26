package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// syntheticFleet builds facts for n members in clusters of 5. The default
// fleet looks like a real one: a handful of versions (most behind the
// target), 1-3% of members with a problem in each unique fact (db near
// quota, certificate expiring, unhealthy, unreachable), some v2 leftovers.
// worst makes every member different (10,000 distinct patch versions) and
// failing many controls, so no verdict can be reused and every failure
// message is formatted.
func syntheticFleet(n int, worst ...bool) *collectors.Facts {
	bad := len(worst) > 0 && worst[0]
	versions := []string{"3.4.23", "3.5.35", "3.6.16", "3.7.3", "3.5.9", "3.3.27"}
	backends := []string{"etcd3", "etcd3", "etcd3", "etcd3", "etcd3", "etcd3", "etcd3", "etcd2", "mixed", "none"}
	f := &collectors.Facts{Schema: collectors.FactsSchema, Inventory: "bench", Profile: "full"}
	for c := 0; c*5 < n; c++ {
		cf := collectors.ClusterFacts{Name: fmt.Sprintf("cluster-%05d", c), Labels: map[string]string{"tier": []string{"small", "medium", "large"}[c%3], "region": "r1"}, DeclaredBackend: "etcd3"}
		v := versions[c%len(versions)]
		for m := 0; m < 5 && c*5+m < n; m++ {
			i := c*5 + m
			mib := int64(20+i%580) << 20
			inUse := mib * 8 / 10
			days := float64(30 + i%370)
			if i%37 == 0 {
				days = 12.5
			}
			if i%41 == 0 {
				mib = 1900 << 20
			}
			if bad {
				v = fmt.Sprintf("3.%d.%d", 3+i%3, i)
				// Sizes and days repeat every 1,000 and 500 members, so the
				// 1,000- and 10,000-member fleets fail the same share of
				// members (i%3000 failed db quota and fragmentation only
				// past the first thousand: a per-member cost that grew with
				// the fleet for want of the same data).
				mib, inUse = int64(i%1000*3)<<20, int64(i%1000)<<20
				days = float64(i%500 - 10)
			}
			yes, no := true, false
			cf.Members = append(cf.Members, collectors.MemberFacts{
				Name: fmt.Sprintf("etcd-%d", m), ID: fmt.Sprintf("%016x", i+1), Endpoint: fmt.Sprintf("https://10.%d.%d.%d:2379", i>>16&255, i>>8&255, i&255),
				Started: true, Reachable: i%97 != 0, UnreachableReason: "dial tcp: i/o timeout",
				Version: &collectors.VersionFacts{Server: v, Cluster: v[:3] + ".0"},
				Status:  &collectors.StatusFacts{DBSize: mib, DBSizeInUse: inUse, Leader: "1", RaftIndex: uint64(i), RaftAppliedIndex: uint64(i)},
				Health:  &collectors.HealthFacts{Healthy: i%50 != 0, Reason: "no leader", LeaderPresent: true},
				Alarms:  &collectors.AlarmFacts{},
				V2:      &collectors.V2Facts{Enabled: c%4 == 0, Counted: true, Keys: int64(c % 3), RegistryPresent: c%8 == 0, RegistryKeys: int64(c % 3)},
				V3:      &collectors.V3Facts{Keys: 100, RegistryKeys: 90, RegistryPresent: true},
				Backend: &collectors.BackendFacts{Observed: backends[c%len(backends)]},
				Security: &collectors.SecurityFacts{Scheme: "https", CertDaysLeft: &days,
					ClientCertRequired: &yes, AuthEnabled: &no},
			})
			if bad {
				cf.Members[m].Security.Scheme = []string{"https", "http"}[i%2]
				cf.Members[m].V2.Enabled, cf.Members[m].V2.Keys = i%2 == 0, int64(i)
				cf.Members[m].Backend.Observed = backends[i%len(backends)]
			}
		}
		cf.Consistency = &collectors.Consistency{MemberListsAgree: true, LeadersAgree: true, Leaders: []string{"1"}, MembersCompared: len(cf.Members), VotingMembers: len(cf.Members)}
		cf.HashKV = &collectors.HashKVFacts{Agree: true, MembersCompared: len(cf.Members)}
		cf.EventLeases = &collectors.LeaseCoverage{Prefix: "/registry/events/", Keys: 100, Leased: int64(100 - c%3), Unleased: int64(c % 3), Ratio: float64(100-c%3) / 100}
		f.Clusters = append(f.Clusters, cf)
	}
	return f
}

func countMembers(f *collectors.Facts) int {
	n := 0
	for _, c := range f.Clusters {
		n += len(c.Members)
	}
	return n
}

// BenchmarkMemberControls times the member-scoped controls alone (the goal:
// under 50 µs per member); BenchmarkPack the whole bundled pack. Run with
// -cpu 1 for the single-core figure; scripts/bench/policies.sh does.
func BenchmarkMemberControls(b *testing.B) { benchPack(b, true, false) }

func BenchmarkPack(b *testing.B) { benchPack(b, false, false) }

// BenchmarkMemberControlsWorst: every member distinct and failing.
func BenchmarkMemberControlsWorst(b *testing.B) { benchPack(b, true, true) }

func benchPack(b *testing.B, memberOnly, worst bool) {
	ctx := context.Background()
	var cfg Config
	if memberOnly {
		e, err := New(ctx, Config{})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range e.Controls() {
			if c.Scope == results.ScopeMember {
				cfg.Controls = append(cfg.Controls, c.ID)
			}
		}
	}
	e, err := New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		f := syntheticFleet(n, worst)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := e.Evaluate(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			members := float64(b.N * countMembers(f))
			b.ReportMetric(float64(b.Elapsed().Microseconds())/members, "µs/member")
			// CPU time is the figure to trust on a shared machine: wall time
			// includes waiting for a core.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/members, "cpu-µs/member")
		})
	}
}

// TestSyntheticFleetJudged makes sure the benchmark's fleet exercises both
// verdicts of the controls rather than timing a path that errors out.
func TestSyntheticFleetJudged(t *testing.T) {
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, worst := range []bool{false, true} {
		rs, err := e.Evaluate(context.Background(), syntheticFleet(500, worst))
		if err != nil {
			t.Fatal(err)
		}
		s := results.Summarize(rs)
		t.Logf("worst=%v: %+v", worst, s.Overall)
		if s.Overall.Failed == 0 || s.Overall.Passed == 0 {
			t.Errorf("synthetic fleet (worst=%v) judged %+v: want passes and failures", worst, s.Overall)
		}
		for id, c := range s.PerControl {
			if c.Error == c.Total {
				t.Errorf("%s: every result is error on the synthetic fleet", id)
			}
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWriteBenchFacts writes the synthetic fleet as a facts file for the
// end-to-end `etcdaudit eval --facts` benchmark (scripts/bench/policies.sh):
// BENCH_FACTS_OUT=path BENCH_FACTS_MEMBERS=10000 [BENCH_FACTS_WORST=1].
// Without BENCH_FACTS_OUT it checks that the file round-trips.
func TestWriteBenchFacts(t *testing.T) {
	out := os.Getenv("BENCH_FACTS_OUT")
	n, _ := strconv.Atoi(os.Getenv("BENCH_FACTS_MEMBERS"))
	if out == "" {
		out, n = filepath.Join(t.TempDir(), "facts.json"), 20
	}
	if n <= 0 {
		n = 10000
	}
	f := syntheticFleet(n, os.Getenv("BENCH_FACTS_WORST") != "")
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var back collectors.Facts
	if err := json.Unmarshal(b, &back); err != nil || countMembers(&back) != n {
		t.Fatalf("facts file does not round-trip: %v, %d members", err, countMembers(&back))
	}
}

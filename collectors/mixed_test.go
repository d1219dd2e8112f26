package collectors_test

import (
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// TestMixedFleet: one run over a fleet whose clusters run different
// versions, one of them halfway through a 3.6 → 3.7 rolling upgrade. Each
// member reports its own version, clusters come out sorted, and lease
// coverage is exact in the mixed cluster by both methods (a 3.7 member may
// answer the walk's keys-only pages, so the walk reads full key-values).
func TestMixedFleet(t *testing.T) {
	old := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithV2())
	mixed := etcdtest.NewCluster(t, etcdtest.WithVersion("3.6"), etcdtest.WithMembers(3))
	cli := mixed.Client(t)
	l := grant(t, cli, 3600)
	seedV3(t, cli, "/registry/events/l%02d", 8, clientv3.WithLease(l))
	seedV3(t, cli, "/registry/events/u%02d", 4)
	up := mixed.Members[0]
	if err := up.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := up.Start("3.7"); err != nil {
		t.Fatal(err)
	}
	v2Put(t, old, "/registry/minions/a", "x", false, 0)

	fleet := &inventory.Fleet{Name: "mixed", Clusters: []inventory.Cluster{
		fleetFor(t, "z-upgrading", mixed).Clusters[0],
		fleetFor(t, "a-legacy", old).Clusters[0],
	}}
	for _, walk := range []bool{false, true} {
		f := run(t, fleet, collectors.Options{Profile: collectors.ProfileFull, LeaseWalk: walk})
		noErrors(t, f)
		if f.Clusters[0].Name != "a-legacy" || f.Clusters[1].Name != "z-upgrading" {
			t.Fatalf("clusters not sorted: %s, %s", f.Clusters[0].Name, f.Clusters[1].Name)
		}
		legacy := f.Clusters[0].Members[0]
		if !strings.HasPrefix(legacy.Version.Server, "3.4.") || legacy.Backend.Observed != collectors.BackendEtcd2 {
			t.Errorf("legacy: version %+v backend %+v", legacy.Version, legacy.Backend)
		}
		var versions []string
		for _, m := range f.Clusters[1].Members {
			versions = append(versions, m.Version.Server[:3])
		}
		slices.Sort(versions)
		if !slices.Equal(versions, []string{"3.6", "3.6", "3.7"}) {
			t.Errorf("member versions %v", versions)
		}
		el := f.Clusters[1].EventLeases
		want := collectors.MethodLeaseJoin
		if walk {
			want = collectors.MethodFullKV
		}
		if el == nil || el.Method != want || el.Keys != 12 || el.Leased != 8 || el.Unleased != 4 || len(el.SampleNoLease) != 4 {
			t.Errorf("walk=%v: coverage %+v", walk, el)
		}
		if h := f.Clusters[1].HashKV; h == nil || !h.Agree || h.MembersCompared != 3 {
			t.Errorf("hashkv across 3.6 and 3.7 members: %+v", h)
		}
	}
}

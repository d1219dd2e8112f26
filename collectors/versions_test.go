package collectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestFactsEveryVersion seeds the same data on every version and checks
// every count exactly. On 3.7 keys-only ranges drop KeyValue.Lease, so the
// events coverage there proves the full-kv path.
func TestFactsEveryVersion(t *testing.T) {
	for _, v := range []string{"3.4", "3.5", "3.6", "3.7"} {
		t.Run(v, func(t *testing.T) {
			members := 1
			if v == "3.5" || v == "3.7" {
				members = 3
			}
			opts := []etcdtest.Option{etcdtest.WithVersion(v), etcdtest.WithMembers(members)}
			hasV2 := v == "3.4" || v == "3.5"
			if hasV2 {
				opts = append(opts, etcdtest.WithV2())
			}
			c := etcdtest.NewCluster(t, opts...)
			cli := c.Client(t)
			seedV3(t, cli, "/registry/pods/default/p%03d", 50)
			seedV3(t, cli, "/other/k%d", 7)
			l1, l2 := grant(t, cli, 3600), grant(t, cli, 90)
			seedV3(t, cli, "/registry/events/default/a%02d", 6, clientv3.WithLease(l1))
			seedV3(t, cli, "/registry/events/default/b%02d", 4, clientv3.WithLease(l2))
			seedV3(t, cli, "/registry/events/default/n%02d", 10)
			if hasV2 {
				v2Put(t, c, "/registry/minions/m1", "x", false, 0)
				v2Put(t, c, "/registry/minions/m2", "x", false, 0)
				v2Put(t, c, "/registry/minions/m3", "x", false, 0)
				v2Put(t, c, "/app/config", "x", false, 0)
				v2Put(t, c, "/app/session", "x", false, 600)
				v2Put(t, c, "/emptydir", "", true, 0)
			}

			// Members answer from their own store (serializable reads): every
			// one must have applied the writes before the counts are compared.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.WaitConverged(ctx); err != nil {
				t.Fatal(err)
			}
			if v == "3.6" || v == "3.7" {
				waitStorageVersion(ctx, t, c)
			}
			fleet := fleetFor(t, "c"+strings.ReplaceAll(v, ".", ""), c)
			f := run(t, fleet, collectors.Options{Profile: collectors.ProfileFull})
			noErrors(t, f)
			cf := f.Clusters[0]
			if len(cf.Members) != members {
				t.Fatalf("members: got %d, want %d", len(cf.Members), members)
			}
			for _, m := range cf.Members {
				if !m.Reachable || m.Version == nil || !strings.HasPrefix(m.Version.Server, v+".") {
					t.Errorf("%s: reachable %v version %+v", m.Name, m.Reachable, m.Version)
				}
				if m.V3 == nil || m.V3.Keys != 77 || m.V3.RegistryKeys != 70 || !m.V3.RegistryPresent {
					t.Errorf("%s: v3 %+v, want 77 keys, 70 under /registry/", m.Name, m.V3)
				}
				if m.Health == nil || !m.Health.Healthy || m.Status == nil || m.Status.Leader == "0" {
					t.Errorf("%s: health %+v status %+v", m.Name, m.Health, m.Status)
				}
				if m.Alarms == nil || len(m.Alarms.Alarms) != 0 {
					t.Errorf("%s: alarms %+v", m.Name, m.Alarms)
				}
				if s := m.Security; s == nil || s.Scheme != "http" || s.AuthEnabled == nil || *s.AuthEnabled || s.ClientCertRequired != nil {
					t.Errorf("%s: security %+v", m.Name, s)
				}
				wantBackend := collectors.BackendEtcd3
				if hasV2 {
					wantBackend = collectors.BackendMixed
					if m.V2 == nil || !m.V2.Enabled || !m.V2.Counted || m.V2.Keys != 5 || m.V2.Dirs != 4 ||
						m.V2.TTLKeys != 1 || m.V2.RegistryKeys != 3 || !m.V2.RegistryPresent {
						t.Errorf("%s: v2 %+v, want 5 keys, 4 dirs, 1 TTL, 3 registry", m.Name, m.V2)
					}
				} else if m.V2 == nil || m.V2.Enabled {
					t.Errorf("%s: v2 %+v, want disabled", m.Name, m.V2)
				}
				if m.Backend == nil || m.Backend.Observed != wantBackend {
					t.Errorf("%s: backend %+v, want %s", m.Name, m.Backend, wantBackend)
				}
				if (v == "3.6" || v == "3.7") && (m.Version.Storage == "" || m.Status.DBSizeQuota == 0) {
					t.Errorf("%s: 3.6+ storage version %q / quota %d missing", m.Name, m.Version.Storage, m.Status.DBSizeQuota)
				}
			}
			checkLeases(t, v, cf.EventLeases, collectors.MethodLeaseJoin)
			walked := run(t, fleet, collectors.Options{Include: []string{"version", "event_leases"}, LeaseWalk: true})
			noErrors(t, walked)
			wantMethod := collectors.MethodKeysOnly
			if v == "3.7" {
				wantMethod = collectors.MethodFullKV
			}
			checkLeases(t, v, walked.Clusters[0].EventLeases, wantMethod)
			if h := cf.HashKV; h == nil || !h.Agree || h.MembersCompared != members {
				t.Errorf("hashkv %+v", h)
			}
			if cs := cf.Consistency; cs == nil || !cs.MemberListsAgree || !cs.LeadersAgree || cs.VotingMembers != members {
				t.Errorf("consistency %+v", cs)
			}
		})
	}
}

// checkLeases asserts the seeded events: 20 keys, 10 on two leases (TTL 1h
// and 90s), 10 without, sampled in key order.
func checkLeases(t *testing.T, v string, el *collectors.LeaseCoverage, method string) {
	t.Helper()
	if el == nil || el.Keys != 20 || el.Leased != 10 || el.Unleased != 10 || el.Leases != 2 || len(el.SampleNoLease) != 10 || el.Ratio != 0.5 {
		t.Fatalf("%s %s: event leases %+v, want 20 keys, 10 leased on 2 leases, 10 unleased sampled", v, method, el)
	}
	if el.TTLBuckets["<=10m"] != 1 || el.TTLBuckets["<=1h"] != 1 || el.TTLProbed != 2 {
		t.Errorf("%s %s: ttl buckets %v (probed %d), want one <=10m and one <=1h", v, method, el.TTLBuckets, el.TTLProbed)
	}
	if el.SampleNoLease[0] != "/registry/events/default/n00" || el.SampleNoLease[9] != "/registry/events/default/n09" {
		t.Errorf("%s %s: samples %q", v, method, el.SampleNoLease)
	}
	if el.Method != method {
		t.Errorf("%s: method %s, want %s", v, el.Method, method)
	}
}

// waitStorageVersion waits until every member of a 3.6+ cluster reports its
// storage version (GET /version). The leader decides it a moment after the
// cluster version, in a raft entry of its own, so a cluster just started
// may not have it yet.
func waitStorageVersion(ctx context.Context, t *testing.T, c *etcdtest.Cluster) {
	t.Helper()
	hc := c.HTTPClient()
	for _, m := range c.Members {
		var last string
		for {
			var doc struct {
				Storage string `json:"storage"`
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/version", nil)
			resp, err := hc.Do(req)
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&doc)
				resp.Body.Close()
			}
			if err == nil && doc.Storage != "" {
				break
			}
			last = fmt.Sprintf("storage %q, error %v", doc.Storage, err)
			select {
			case <-ctx.Done():
				t.Fatalf("%s: no storage version reported: %s", m.Name, last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

package remediate

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

// syncBuffer is the progress output, read while a run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// world is a real cluster behind the host stand-in, its inventory, and an
// engine that reaches it only through the inventory's hooks.
type world struct {
	h         *hoststub.Host
	fleetPath string
	fleet     *inventory.Fleet
	eng       *Engine
	out       *syncBuffer
	policy    *policies.Engine
}

func newWorld(t *testing.T, name string, opts ...etcdtest.Option) *world {
	t.Helper()
	h := hoststub.Start(t, opts...)
	fleetPath := h.Inventory(t, name)
	fleet, err := inventory.Load(fleetPath)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policies.New(t.Context(), policies.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := NewGate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{h: h, fleetPath: fleetPath, fleet: fleet, out: &syncBuffer{}, policy: pol}
	w.eng = &Engine{
		Fleet: fleet, StateDir: t.TempDir(), Gate: gate, Out: w.out,
		Hooks: map[string]*hooks.Runner{name: hooks.NewRunner(fleet.Clusters[0].Hooks, hooks.Options{})},
		Judge: func(ctx context.Context, f *collectors.Facts) (*results.Report, error) {
			return policies.Judge(ctx, pol, f, nil, time.Now().UTC())
		},
	}
	return w
}

// plan collects, judges and plans the world's fleet as `remediate plan` does.
func (w *world) plan(t *testing.T, o Options) *Plan {
	t.Helper()
	ctx := t.Context()
	facts, err := collectors.Run(ctx, w.fleet, collectors.Options{Profile: collectors.ProfileFull})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := policies.Judge(ctx, w.policy, facts, nil, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := policies.LoadData(nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := UpgradeDataFrom(raw)
	if err != nil {
		t.Fatal(err)
	}
	o.BackupDir = w.eng.StateDir + "/backups"
	o.Hooks = func(c string) HookSet { return InventoryHooks(w.eng.Hooks[c]) }
	p, err := MakePlan(rep, facts, w.fleet, data, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kv is one key as etcd holds it.
type kv struct {
	value                string
	lease                int64
	create, mod, version int64
}

// dump reads every key with its metadata (full key-values: 3.7's keys-only
// answers carry no lease).
func dump(t *testing.T, cli *clientv3.Client) map[string]kv {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kv{}
	for _, x := range r.Kvs {
		out[string(x.Key)] = kv{string(x.Value), x.Lease, x.CreateRevision, x.ModRevision, x.Version}
	}
	return out
}

func sameKeys(t *testing.T, before, after map[string]kv) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("%d keys before, %d after", len(before), len(after))
	}
	bad := 0
	for k, v := range before {
		if a, ok := after[k]; !ok || a != v {
			if bad++; bad <= 5 {
				t.Errorf("key %q: before %+v, after %+v (present %v)", k, v, a, ok)
			}
		}
	}
}

// TestApplyUpgrade34To37: one plan and one approved apply take a 3-member
// 3.4.23 cluster with v3 data and leases to 3.7.3 through 3.5.35 and 3.6.16,
// through the hooks only; every key stays identical on every member and the
// re-scan passes the version controls.
func TestApplyUpgrade34To37(t *testing.T) {
	for _, v := range []string{"3.4", "3.5", "3.6", "3.7"} {
		etcdtest.RequireVersion(t, v)
	}
	w := newWorld(t, "prod", etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3))
	ctx := t.Context()
	cli := w.h.Cluster.Client(t)
	if _, err := seed.V3Keys(ctx, cli, "/registry/pods/", 200); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Events(ctx, cli, "/registry/events/", 100, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := w.h.Cluster.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]kv{}
	for _, m := range w.h.Cluster.Members {
		before[m.Name] = dump(t, m.Client(t))
	}
	p := w.plan(t, Options{Via: map[string]string{"3.5": "3.5.35", "3.6": "3.6.16"}})
	c := &p.Clusters[0]
	if c.Refused != "" || len(c.Steps) == 0 {
		t.Fatalf("plan: refused %q, %d steps", c.Refused, len(c.Steps))
	}
	start := time.Now()
	// Member steps take seconds: every 200 ms of one is a running line.
	w.eng.ProgressEvery = 200 * time.Millisecond
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, Approver: "test", NoCanaryPause: true})
	wall := time.Since(start)
	t.Logf("progress:\n%s", w.out)
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("apply: %+v %v", out, err)
	}
	if !strings.Contains(w.out.String(), ": running ") || !strings.Contains(w.out.String(), " [") {
		t.Errorf("no running line with a bar for a long step in the progress")
	}
	t.Logf("3.4.23 -> 3.7.3, 3 members: %s wall", wall.Round(time.Second))
	for _, m := range w.h.Cluster.Members {
		sameKeys(t, before[m.Name], dump(t, m.Client(t)))
	}
	// Before each member's first 3.6 start, etcdutl checked its stopped
	// data dir and found nothing 3.6 would refuse.
	j, err := journal.OpenReadOnly(w.eng.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := j.Steps(out.RunID)
	_ = j.Close()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range recs {
		for _, h := range r.Hooks {
			if h.Name == hookCheckV2 {
				checked++
				if !strings.Contains(r.Key, "/upgrade/3.5-3.6/member/") || !strings.Contains(h.Output, "No custom content found") {
					t.Errorf("step %s: check_v2store said %q", r.Key, h.Output)
				}
			}
		}
	}
	if checked != 3 {
		t.Errorf("check_v2store ran %d times, want once per member of the 3.6 hop", checked)
	}
	rep, err := w.eng.scan(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Control, "ETCD-VER-") && r.Status != results.Passed {
			t.Errorf("%s %s: %s %v", r.Control, r.Member, r.Status, r.Messages)
		}
	}
	for _, m := range w.h.Cluster.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil || st.Version != "3.7.3" {
			t.Errorf("%s: %v %v", m.Name, st, err)
		}
	}
}

// TestApplyUpgrade34To36EmptyV3: a 3.4 cluster that never wrote a v3 key
// (its backend holds no consistent index: a Kubernetes cluster on the etcd2
// backend) and never saved a raft snapshot. 3.5 replays the whole log on its
// first start and, applying the bootstrap membership entries one by one,
// records the members not added yet as removed in the v3 store ("Removing
// zombie member from v3store"); 3.6 reads membership from the v3 store and
// rejects them as removed, so the second member of the 3.6 hop never comes
// back. The 3.4 -> 3.5 hop must persist a consistent index first.
func TestApplyUpgrade34To36EmptyV3(t *testing.T) {
	for _, v := range []string{"3.4", "3.5", "3.6"} {
		etcdtest.RequireVersion(t, v)
	}
	w := newWorld(t, "prod", etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3))
	ctx := t.Context()
	p := w.plan(t, Options{Target: "3.6.16", Via: map[string]string{"3.5": "3.5.35"}})
	c := &p.Clusters[0]
	if c.Refused != "" || len(c.Steps) == 0 {
		t.Fatalf("plan: refused %q, %d steps", c.Refused, len(c.Steps))
	}
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, Approver: "test", NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Logf("progress:\n%s", w.out)
		t.Fatalf("apply: %+v %v", out, err)
	}
	cli := w.h.Cluster.Client(t)
	for _, m := range w.h.Cluster.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil || st.Version != "3.6.16" {
			t.Errorf("%s: %v %v", m.Name, st, err)
		}
	}
	if r, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Errorf("the keyspace after the run: %v %v; want it empty still", r, err)
	}
}

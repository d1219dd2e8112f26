package main

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
	"github.com/etcdaudit/etcdaudit/results"
)

// v2Values reads every v2 key (not directory) under "/" from every member
// and returns them once all members agree (within 20 s). Reads are not
// quorum reads (those append v2 entries to the log, which 3.6 panics on),
// so a member answers from what it has applied: a follower a few entries
// behind the member a test wrote through must not make the test see fewer
// keys.
func v2Values(t *testing.T, ctx context.Context, endpoints []string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var first map[string]string
		agree := true
		for _, ep := range endpoints {
			kapi, err := v2data.NewKeysAPI([]string{ep}, &http.Transport{DisableKeepAlives: true}, 0)
			if err != nil {
				t.Fatal(err)
			}
			vals := v2ValuesOn(t, ctx, kapi)
			if first == nil {
				first = vals
			} else if !maps.Equal(first, vals) {
				agree = false
			}
		}
		if agree {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("the members' v2 stores still differ after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func v2ValuesOn(t *testing.T, ctx context.Context, kapi client.KeysAPI) map[string]string {
	t.Helper()
	out := map[string]string{}
	resp, err := kapi.Get(ctx, "/", &client.GetOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *client.Node)
	walk = func(n *client.Node) {
		if !n.Dir {
			out[n.Key] = n.Value
		}
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	walk(resp.Node)
	return out
}

// TestRemediateMigrateV2To36CLI: a 3-member 3.5.35 cluster with --enable-v2
// holding v2 data (keys with and without TTLs). `remediate plan --target
// 3.6.16` plans the data actions before the hop instead of refusing it;
// `apply --approve` reaches 3.6.16 with every v2 key in v3 (same value, TTL
// keys leased), the writers stopped, switched to etcd3 and started in that
// order, and the next scan passes the v2 controls.
func TestRemediateMigrateV2To36CLI(t *testing.T) {
	migrateV2To36(t, "3.5")
}

func migrateV2To36(t *testing.T, from string) {
	etcdtest.RequireVersion(t, from)
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	h := hoststub.Start(t, etcdtest.WithVersion(from), etcdtest.WithMembers(3), etcdtest.WithV2())
	var mu sync.Mutex
	var writes []string
	rec := func(s string) { mu.Lock(); writes = append(writes, s); mu.Unlock() }
	h.SetWriter(hoststub.WriterFuncs{
		Stop:    func(context.Context) error { rec("stop"); return nil },
		Start:   func(context.Context) error { rec("start"); return nil },
		Backend: func(_ context.Context, b string) error { rec("backend " + b); return nil },
	})
	fleet := h.Inventory(t, "legacy")
	ctx := t.Context()
	hc := h.Cluster.HTTPClient()
	if _, err := seed.V2Keys(ctx, hc, h.Cluster.Endpoints()[0], seed.V2Spec{Prefix: "/registry", Dirs: 3, Keys: 40, TTLKeys: 10, JSON: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.V2Keys(ctx, hc, h.Cluster.Endpoints()[0], seed.V2Spec{Prefix: "/legacy-app", Keys: 5}); err != nil {
		t.Fatal(err)
	}
	before := v2Values(t, ctx, h.Cluster.Endpoints())
	if len(before) != 55 {
		t.Fatalf("%d v2 keys seeded", len(before))
	}

	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--color", "never", "--target", "3.6.16", "--via", "3.5.35")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(planPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := remediate.DecodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := p.Cluster("legacy")
	if !ok || c.Refused != "" {
		t.Fatalf("plan of legacy: %+v\n%s", c, stdout)
	}
	var kinds []string
	for _, s := range c.Steps {
		kinds = append(kinds, s.Kind)
	}
	got := strings.Join(kinds, ",")
	// The data steps come right before the 3.6 hop's restarts without
	// --enable-v2 (after the 3.4 -> 3.5 hop when starting on 3.4).
	if !strings.Contains(got, "v2-dump,stop-writers,v2-copy,backup,switch-backend,v2-cleanup,member-restart,") {
		t.Fatalf("steps %s", got)
	}

	code, stdout, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("apply:\n%s", stdout)
	mu.Lock()
	if w := strings.Join(writes, ","); w != "stop,backend etcd3,start" {
		t.Errorf("writer calls %q", w)
	}
	mu.Unlock()
	for _, m := range []string{"m0", "m1", "m2"} {
		if v := h.Member(m).FullVersion(); v != "3.6.16" {
			t.Errorf("%s runs %s", m, v)
		}
	}
	cli := h.Cluster.Client(t)
	for k, v := range before {
		r, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != v {
			t.Errorf("v3 %s = %v, want the v2 value %q", k, r.Kvs, v)
		}
	}
	if r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 50 {
		t.Errorf("v3 /registry/: %v %v", r, err)
	}

	scanJSON := filepath.Join(dir, "scan.json")
	code, stdout, stderr = runCLI(t, "scan", "-f", fleet, "--profile", "full", "--report", "json:"+scanJSON)
	if code != results.ExitPassed && code != results.ExitFailed {
		t.Fatalf("scan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := loadJSONReport(t, scanJSON)
	for _, m := range []string{"m0", "m1", "m2"} {
		for _, ctl := range []string{"ETCD-V2-001", "ETCD-V2-002"} {
			if st, msg := statusOf(rep, ctl, "legacy", m); st != results.Passed {
				t.Errorf("%s %s after apply: %s %s", ctl, m, st, msg)
			}
		}
	}
}

// TestRemediateMigrateV2RollbackCLI: the verify hook fails right after the
// backend switch (the seed's NotReady kubelets): the run halts there, and
// `remediate rollback` points the writers back at etcd2, deletes every key
// the copy wrote by key and mod revision, and starts the writers: v2 holds
// all its data, v3 none of the copied keys.
func TestRemediateMigrateV2RollbackCLI(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	// The 6th verify is the switch-backend step's, the 7th the cleanup's:
	// then rollback re-imports the v2 data from the dump too.
	t.Run("after switch-backend", func(t *testing.T) { rollbackV2(t, 6, "v2-data/before-3.6/switch-backend") })
	t.Run("after cleanup", func(t *testing.T) { rollbackV2(t, 7, "v2-data/before-3.6/cleanup") })
	// Every member restarted without --enable-v2 for the 3.6 hop: the
	// rollback turns it on again before it re-imports the v2 data.
	t.Run("after the restarts", func(t *testing.T) { rollbackV2(t, 10, "upgrade/3.5-3.6/restart/") })
}

func rollbackV2(t *testing.T, failAt int32, step string) {
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2())
	var mu sync.Mutex
	var writes []string
	rec := func(s string) { mu.Lock(); writes = append(writes, s); mu.Unlock() }
	// The API servers' last write lands after the v2 dump step, right
	// before they stop: a rollback must bring it back too.
	const lateKey, lateValue = "/registry/pods/default/late", "written-before-stop"
	var stops atomic.Int32
	h.SetWriter(hoststub.WriterFuncs{
		Stop: func(ctx context.Context) error {
			rec("stop")
			if stops.Add(1) > 1 {
				return nil
			}
			kapi, err := v2data.NewKeysAPI(h.Cluster.Endpoints()[:1], &http.Transport{DisableKeepAlives: true}, 0)
			if err != nil {
				return err
			}
			_, err = kapi.Set(ctx, lateKey, lateValue, nil)
			return err
		},
		Start:   func(context.Context) error { rec("start"); return nil },
		Backend: func(_ context.Context, b string) error { rec("backend " + b); return nil },
	})
	var verifies atomic.Int32
	h.SetProbe(func(context.Context, string) error {
		if verifies.Add(1) == failAt { // backup, dump, stop-writers, copy, backup, switch-backend, cleanup
			return errors.New("kubelets NotReady")
		}
		return nil
	})
	fleet := h.Inventory(t, "legacy")
	ctx := t.Context()
	if _, err := seed.V2Keys(ctx, h.Cluster.HTTPClient(), h.Cluster.Endpoints()[0], seed.V2Spec{Prefix: "/registry", Dirs: 2, Keys: 30, TTLKeys: 6, JSON: true}); err != nil {
		t.Fatal(err)
	}
	before := v2Values(t, ctx, h.Cluster.Endpoints())
	cli := h.Cluster.Client(t)
	if _, err := cli.Put(ctx, "/other/key", "kept"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	if code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--target", "3.6.16"); code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr := runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code == 0 || !regexp.MustCompile(regexp.QuoteMeta(step)+`\S*: verify hook`).MatchString(stderr) {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`run (\S+): halted`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("apply output names no halted run:\n%s", stdout)
	}
	before[lateKey] = lateValue
	if r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != int64(len(before)) {
		t.Fatalf("v3 after the copy: %v %v", r, err)
	}
	code, stdout, stderr = runCLI(t, "remediate", "rollback", m[1], "-f", fleet, "--state-dir", state)
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("rollback:\n%s", stdout)
	mu.Lock()
	if w := strings.Join(writes, ","); w != "stop,backend etcd3,start,stop,backend etcd2,start" {
		t.Errorf("writer calls %q", w)
	}
	mu.Unlock()
	if r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Errorf("v3 after rollback: %v %v", r, err)
	}
	if r, err := cli.Get(ctx, "/other/key"); err != nil || len(r.Kvs) != 1 {
		t.Errorf("a key the copy did not write was deleted: %v %v", r, err)
	}
	after := v2Values(t, ctx, h.Cluster.Endpoints())
	if len(after) != len(before) {
		t.Errorf("v2 holds %d keys after rollback, had %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("v2 %s = %q after rollback, want %q", k, after[k], v)
		}
	}
}

// TestRemediateMigrateV2ConflictCLI: a v3 key planted under a v2 directory
// that is to be migrated halts the run at the conflict check, naming the
// key, before the writers are stopped or anything is copied.
func TestRemediateMigrateV2ConflictCLI(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2())
	var stops atomic.Int32
	h.SetWriter(hoststub.WriterFuncs{
		Stop:    func(context.Context) error { stops.Add(1); return nil },
		Start:   func(context.Context) error { return nil },
		Backend: func(context.Context, string) error { return nil },
	})
	fleet := h.Inventory(t, "legacy")
	ctx := t.Context()
	if _, err := seed.V2Keys(ctx, h.Cluster.HTTPClient(), h.Cluster.Endpoints()[0], seed.V2Spec{Prefix: "/registry", Keys: 10}); err != nil {
		t.Fatal(err)
	}
	cli := h.Cluster.Client(t)
	// v3 holds data when the plan is made (so planting one more key does
	// not make the plan stale: its fingerprint keeps only whether v3 has data).
	if _, err := cli.Put(ctx, "/other/key", "v3"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	if code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--target", "3.6.16"); code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := cli.Put(ctx, "/registry/planted", "v3"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	if code == 0 || !strings.Contains(stderr, "v2-data/before-3.6/dump") || !strings.Contains(stderr, "/registry/planted") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if stops.Load() != 0 {
		t.Errorf("the writers were stopped before the conflict halted the run")
	}
	if r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 1 {
		t.Errorf("v3 under /registry/ after the halt: %v %v (only the planted key expected)", r, err)
	}
}

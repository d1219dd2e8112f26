package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/k8swriter"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/results"
)

// Sizes of the flagship's v2 tree: 5 namespaces of 250 pods, 50 services
// and 300 events (1 h TTL) each, plus shortTTLEvents events that expire
// while the run goes on.
const (
	flagshipNamespaces = 5
	shortTTLEvents     = 100
	shortEventTTL      = 45 * time.Second
)

// TestRemediateFlagship is issue 11's end-to-end proof: a 3-member etcd
// 3.4.23 cluster with --enable-v2 holding a Kubernetes-like v2 tree, and a
// real writer process standing in for the API servers (k8swriter, driven by
// the inventory's stop_writers, set_backend and start_writers hooks through
// the host stand-in) writing objects and events to v2, then to v3 after the
// switch. One `remediate plan` and one `remediate apply --approve` take the
// cluster to 3.7.3 through 3.5.35 and 3.6.16. Then: every member runs
// 3.7.3; every v2 key is in v3 with the same value (but short-TTL events
// that expired); every events key has a live lease; the v2 store was
// emptied before 3.6; every write the writer saw acknowledged is in v3 or
// legitimately expired; a full scan passes the version, v2, backend and
// lease controls.
func TestRemediateFlagship(t *testing.T) {
	for _, v := range []string{"3.4", "3.5", "3.6", "3.7"} {
		etcdtest.RequireVersion(t, v)
	}
	start := time.Now()
	h := hoststub.Start(t, etcdtest.WithVersion("3.4"), etcdtest.WithMembers(3), etcdtest.WithV2())
	ctx := t.Context()
	hc := h.Cluster.HTTPClient()
	ep := h.Cluster.Endpoints()[0]
	reg, err := seed.RegistryV2(ctx, hc, ep, seed.Registry{Namespaces: flagshipNamespaces,
		PodsPerNamespace: 250, ServicesPerNamespace: 50, EventsPerNamespace: 300, EventTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	shortAt := time.Now()
	if _, err := seed.V2Keys(ctx, hc, ep, seed.V2Spec{Prefix: "/registry/events/short", TTLKeys: shortTTLEvents, TTL: shortEventTTL, JSON: true}); err != nil {
		t.Fatal(err)
	}
	before := v2Values(t, ctx, h.Cluster.Endpoints())
	if want := reg.Keys + shortTTLEvents; len(before) != want {
		t.Fatalf("%d v2 keys seeded, want %d", len(before), want)
	}
	t.Logf("seeded %d v2 keys in %s", len(before), time.Since(start).Round(time.Millisecond))

	// The API servers' stand-in writes v2 from before the plan until the
	// plan's stop_writers step, then v3 once switched and started again.
	w := k8swriter.StartProcess(t, k8swriter.ProcessConfig{Endpoints: h.Cluster.Endpoints(), Running: true})
	h.SetWriter(w)
	v2seen := watchV2(h)
	h.SetProbe(v2seen.probe)
	fleet := h.Inventory(t, "legacy")
	waitWriterAcks(t, w, 20)

	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state,
		"--color", "never", "--target", "3.7.3", "--via", "3.5.35,3.6.16")
	if code != 0 || strings.Contains(stdout, "REFUSED") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("plan:\n%s", stdout)
	applyAt := time.Now()
	code, stdout, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	t.Logf("apply (%s):\n%s", time.Since(applyAt).Round(time.Second), stdout)
	if code != 0 {
		for _, m := range h.Cluster.Members {
			t.Logf("%s log tail:\n%s", m.Name, m.LogTail(40))
		}
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	run := regexp.MustCompile(`run (\S+): done`).FindStringSubmatch(stdout)
	if run == nil {
		t.Fatalf("apply output names no finished run")
	}
	// Let the writer write v3 on 3.7.3 for a moment, then stop it so its
	// log is final.
	waitWriterAcks(t, w, 20)
	if err := w.StopWriters(ctx); err != nil {
		t.Fatal(err)
	}

	for _, m := range h.Cluster.Members {
		if v := m.FullVersion(); v != "3.7.3" {
			t.Errorf("%s runs %s, want 3.7.3", m.Name, v)
		}
	}
	cli := h.Cluster.Client(t)
	checkV2KeysInV3(t, ctx, cli, before, shortAt.Add(shortEventTTL))
	checkEventLeases(t, ctx, cli)
	v2seen.check(t)
	checkCleanupJournal(t, run[1], state)

	f, err := os.Open(w.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rep, err := k8swriter.Check(ctx, f, nil, cli)
	if err != nil {
		t.Fatalf("writer's acknowledged writes: %+v: %v", rep, err)
	}
	backends := writerBackends(t, w.Log)
	if rep.Acks == 0 || backends[k8swriter.Etcd2] == 0 || backends[k8swriter.Etcd3] == 0 {
		t.Errorf("writer acknowledged %d writes (%v); want writes on both backends", rep.Acks, backends)
	}
	t.Logf("writer: %d acknowledged writes (%v), %d keys: %d present, %d expired", rep.Acks, backends, rep.Keys, rep.Present, rep.Expired)

	scanJSON := filepath.Join(dir, "scan.json")
	code, stdout, stderr = runCLI(t, "scan", "-f", fleet, "--profile", "full", "--report", "json:"+scanJSON)
	if code != results.ExitPassed && code != results.ExitFailed {
		t.Fatalf("scan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sr := loadJSONReport(t, scanJSON)
	for _, ctl := range []string{"ETCD-VER-001", "ETCD-VER-002", "ETCD-VER-003", "ETCD-VER-004", "ETCD-VER-005",
		"ETCD-FLEET-001", "ETCD-V2-001", "ETCD-V2-002", "ETCD-K8S-001", "ETCD-K8S-002", "ETCD-K8S-004"} {
		seen := false
		for _, r := range sr.Results {
			if r.Control != ctl || (r.Cluster != "legacy" && r.Cluster != "") { // "": fleet-wide (ETCD-FLEET-001)
				continue
			}
			seen = true
			if r.Status != results.Passed {
				t.Errorf("%s %s after the run: %s %s", ctl, r.Member, r.Status, strings.Join(r.Messages, " | "))
			}
		}
		if !seen {
			t.Errorf("the scan has no result for %s", ctl)
		}
	}
	t.Logf("flagship wall time %s (apply %s)", time.Since(start).Round(time.Second), time.Since(applyAt).Round(time.Second))
}

// waitWriterAcks waits until the writer has acknowledged n more writes.
func waitWriterAcks(t *testing.T, w *k8swriter.Process, n int64) {
	t.Helper()
	acked := func() int64 {
		s, err := w.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var a int64
		if m := regexp.MustCompile(`acked=(\d+)`).FindStringSubmatch(s); m != nil {
			_, _ = fmt.Sscan(m[1], &a)
		}
		return a
	}
	want := acked() + n
	deadline := time.Now().Add(time.Minute)
	for acked() < want {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(w.Output)
			t.Fatalf("the writer acknowledged fewer than %d writes in a minute\n%s", n, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writerBackends counts the writer's acknowledged writes per backend.
func writerBackends(t *testing.T, log string) map[k8swriter.Backend]int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	out := map[k8swriter.Backend]int{}
	for line := range strings.Lines(string(b)) {
		var a k8swriter.Ack
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		out[a.Backend]++
	}
	return out
}

// checkV2KeysInV3: every key v2 held before the run is in v3 with the same
// value; only an event whose TTL ran out (expires, minus 2 s of slack for
// the time between its write and the seeder's return) may be missing.
func checkV2KeysInV3(t *testing.T, ctx context.Context, cli *clientv3.Client, before map[string]string, expires time.Time) {
	t.Helper()
	r, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	v3 := map[string]string{}
	for _, kv := range r.Kvs {
		v3[string(kv.Key)] = string(kv.Value)
	}
	missing, expired := 0, 0
	for k, v := range before {
		got, ok := v3[k]
		switch {
		case ok && got == v:
		case !ok && strings.HasPrefix(k, "/registry/events/short/") && time.Now().After(expires.Add(-2*time.Second)):
			expired++
		default:
			missing++
			if missing <= 5 {
				t.Errorf("v3 %s = %q (present %t), want the v2 value %q", k, got, ok, v)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d v2 keys missing or different in v3", missing, len(before))
	}
	t.Logf("%d v2 keys in v3 with their values, %d expired", len(before)-missing-expired, expired)
}

// checkEventLeases: every key under /registry/events/ carries a lease that
// is alive (a key whose lease ran out between the read and the check must
// be gone by then). Full reads: 3.7 reports lease 0 on keys-only ranges.
func checkEventLeases(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	r, err := cli.Get(ctx, "/registry/events/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) == 0 {
		t.Fatal("no events keys in v3")
	}
	alive := map[clientv3.LeaseID]bool{}
	for _, kv := range r.Kvs {
		id := clientv3.LeaseID(kv.Lease)
		if id == 0 {
			t.Errorf("events key %s has no lease", kv.Key)
			continue
		}
		ok, seen := alive[id]
		if !seen {
			ttl, err := cli.TimeToLive(ctx, id)
			if err != nil {
				t.Fatalf("lease %x: %v", id, err)
			}
			ok = ttl.TTL > 0
			alive[id] = ok
		}
		if !ok {
			if g, err := cli.Get(ctx, string(kv.Key)); err != nil || len(g.Kvs) != 0 {
				t.Errorf("events key %s holds lease %x, which is not alive (%v)", kv.Key, id, err)
			}
		}
	}
	t.Logf("%d events keys on %d leases", len(r.Kvs), len(alive))
}

// v2Watch is the verify hook's probe: after each step it counts the custom
// v2 keys of every running member that still serves the v2 API, so the test
// sees the v2 store emptied before the members dropped --enable-v2 (3.7 has
// no v2 API left to ask).
type v2Watch struct {
	h  *hoststub.Host
	mu sync.Mutex
	// counts holds, per probe that reached a v2 API, the largest count.
	counts []int
}

func watchV2(h *hoststub.Host) *v2Watch { return &v2Watch{h: h} }

func (v *v2Watch) probe(ctx context.Context, _ string) error {
	most, reached := 0, false
	for _, m := range v.h.Cluster.Members {
		if !m.Running() || (m.Version() != "3.4" && m.Version() != "3.5") {
			continue
		}
		n, ok, err := v2Count(ctx, v.h.Cluster.HTTPClient(), m.ClientURL)
		if err != nil {
			return fmt.Errorf("v2 count on %s: %w", m.Name, err)
		}
		if ok {
			reached = true
			most = max(most, n)
		}
	}
	if reached {
		v.mu.Lock()
		v.counts = append(v.counts, most)
		v.mu.Unlock()
	}
	return nil
}

// check: the last v2 count seen, after the cleanup and before the members
// dropped the v2 API, was zero, and v2 held data before.
func (v *v2Watch) check(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.counts) < 2 || v.counts[0] == 0 || v.counts[len(v.counts)-1] != 0 {
		t.Errorf("custom v2 keys seen by the verify hook, step after step: %v; want data first, none last", v.counts)
	}
}

// v2Count counts the custom v2 keys (not directories) a member holds; ok is
// false when the member does not serve the v2 API. The read is not a quorum
// read: it adds no v2 entry to the raft log.
func v2Count(ctx context.Context, hc *http.Client, clientURL string) (n int, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/v2/keys/?recursive=true", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return 0, false, nil
	}
	type node struct {
		Dir   bool    `json:"dir"`
		Nodes []*node `json:"nodes"`
	}
	var body struct{ Node node }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, false, fmt.Errorf("v2 keys: status %s: %w", resp.Status, err)
	}
	var walk func(*node)
	walk = func(x *node) {
		if !x.Dir {
			n++
		}
		for _, c := range x.Nodes {
			walk(c)
		}
	}
	for _, c := range body.Node.Nodes {
		walk(c)
	}
	return n, true, nil
}

// checkCleanupJournal: the journal's v2-cleanup step is done and says no v2
// TTL key was left.
func checkCleanupJournal(t *testing.T, run, state string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, "remediate", "status", run, "--state-dir", state)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "no v2 TTL key left") {
		t.Errorf("the journal does not show the v2 cleanup:\n%s", stdout)
	}
}

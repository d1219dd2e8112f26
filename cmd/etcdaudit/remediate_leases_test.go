package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

// eventsWriter stands in for the API servers writing events while the
// leases are attached: it updates random existing events keys with its own
// lease (as the apiserver writes every event) and remembers the last value
// each key was acknowledged with.
type eventsWriter struct {
	cli   *clientv3.Client
	keys  []string
	lease clientv3.LeaseID
	stop  atomic.Bool

	mu        sync.Mutex
	last      map[string]string
	uncertain map[string]bool // a put that failed may still have been applied
	acked     atomic.Int64
}

// run writes until stop is set; a put in flight then completes (it is
// never cancelled), so every write that reached etcd is known.
func (w *eventsWriter) run(ctx context.Context) {
	for i := 0; !w.stop.Load() && ctx.Err() == nil; i++ {
		k := w.keys[rand.IntN(len(w.keys))]
		v := fmt.Sprintf("writer-%d", i)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := w.cli.Put(wctx, k, v, clientv3.WithLease(w.lease))
		cancel()
		w.mu.Lock()
		if err == nil {
			w.last[k] = v
			w.acked.Add(1)
		} else {
			w.uncertain[k] = true
		}
		w.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRemediateAttachEventLeasesCLI: a 3-member 3.5 cluster with 300 events
// keys, 180 of them without a lease (ETCD-K8S-004 fails). `remediate plan
// --actions attach-event-leases` plans a backup and one attach step, no host
// hook; `apply --approve` leases every key while a writer keeps updating
// events: every value is the original or the writer's last acknowledged one,
// and the next scan passes ETCD-K8S-004. Applying a fresh plan again finds
// nothing to do.
func TestRemediateAttachEventLeasesCLI(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	fleet := h.Inventory(t, "events")
	cli := h.Cluster.Client(t)
	ctx := t.Context()
	const prefix = "/registry/events/"
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var keys []string
	for i := range 300 {
		k := fmt.Sprintf("%sns-%d/pod-%03d.%x", prefix, i%7, i, i*7919)
		v := fmt.Sprintf(`{"kind":"Event","metadata":{"name":"pod-%03d"},"count":%d}`, i, i)
		var opts []clientv3.OpOption
		if i%5 < 2 { // 120 leased, 180 not
			opts = append(opts, clientv3.WithLease(lease.ID))
		}
		if _, err := cli.Put(ctx, k, v, opts...); err != nil {
			t.Fatal(err)
		}
		want[k] = v
		keys = append(keys, k)
	}
	// A key outside the prefix without a lease must stay as it is.
	if _, err := cli.Put(ctx, "/registry/pods/default/p0", "pod"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	planPath, state := filepath.Join(dir, "plan.json"), filepath.Join(dir, "state")
	code, stdout, stderr := runCLI(t, "remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--color", "never", "--actions", "attach-event-leases")
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
	c, ok := p.Cluster("events")
	if !ok || c.Refused != "" || len(c.Steps) != 2 {
		t.Fatalf("plan of events: %+v", c)
	}
	if s := c.Steps[0]; s.Kind != remediate.KindBackup || s.Action != remediate.ActionAttachEventLeases || s.Backup == "" {
		t.Errorf("first step %+v, want the backup", s)
	}
	if s := c.Steps[1]; s.Kind != remediate.KindAttachLeases || s.Prefix != prefix || !s.Destructive || len(s.Hooks) != 1 || s.Hooks[0].Name != "verify" ||
		strings.Join(s.Controls, ",") != "ETCD-K8S-004" || !strings.Contains(s.Description, "180 of 300 keys") {
		t.Errorf("attach step %+v", s)
	}
	if !strings.Contains(stdout, "attach-leases") {
		t.Errorf("text plan lacks the attach step:\n%s", stdout)
	}
	if len(h.Ops()) != 0 {
		t.Fatalf("plan ran hooks: %v", h.Ops())
	}

	wl, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	w := &eventsWriter{cli: cli, keys: keys, lease: wl.ID, last: map[string]string{}, uncertain: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx) })
	for w.acked.Load() < 20 { // the writer is going before apply starts
		time.Sleep(10 * time.Millisecond)
	}
	ackedBefore := w.acked.Load()
	code, stdout, stderr = runCLI(t, "remediate", "apply", "-f", fleet, "--plan", planPath, "--approve", "--state-dir", state)
	ackedDuring := w.acked.Load() - ackedBefore
	w.stop.Store(true)
	wg.Wait()
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if ackedDuring == 0 {
		t.Fatalf("the writer wrote nothing during apply")
	}
	m := regexp.MustCompile(`run (\S+): done`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("apply output names no finished run:\n%s", stdout)
	}
	for _, op := range h.Ops() {
		if !strings.HasPrefix(op, "verify") {
			t.Errorf("apply ran host hooks besides verify: %v", h.Ops())
			break
		}
	}
	for k, v := range w.last {
		want[k] = v
	}
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != len(want) {
		t.Errorf("%d keys under %s after apply, want %d", len(resp.Kvs), prefix, len(want))
	}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			t.Errorf("%s carries no lease after apply", kv.Key)
		}
		if got := string(kv.Value); got != want[string(kv.Key)] && !w.uncertain[string(kv.Key)] {
			t.Errorf("%s = %q, want %q (an acknowledged write lost or a value changed)", kv.Key, got, want[string(kv.Key)])
		}
	}
	if r, err := cli.Get(ctx, "/registry/pods/default/p0"); err != nil || len(r.Kvs) != 1 || r.Kvs[0].Lease != 0 {
		t.Errorf("a key outside the events prefix was touched: %v %v", r, err)
	}

	code, sout, serr := runCLI(t, "remediate", "status", m[1], "--state-dir", state)
	if code != 0 || !strings.Contains(sout, "events/attach-event-leases/attach") || !strings.Contains(sout, "300 keys") {
		t.Errorf("status: exit %d\n%s\n%s", code, sout, serr)
	}
	// The journal keeps the verified backup and the attach report.
	jn, err := journal.OpenReadOnly(state)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := jn.Steps(m[1])
	_ = jn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var backedUp, reported bool
	for _, s := range steps {
		switch s.Key {
		case "events/attach-event-leases/backup":
			backedUp = s.Status == journal.StepDone && len(s.Backups) == 1 && s.Backups[0].SHA256 != ""
		case "events/attach-event-leases/attach":
			var d struct {
				Report struct{ Keys, Attached, AlreadyLeased int } `json:"report"`
				After  struct{ Keys, Unleased int }                `json:"after"`
			}
			// The writer leases some keys itself before the attach reaches them.
			reported = s.Status == journal.StepDone && json.Unmarshal(s.Data, &d) == nil && d.Report.Keys == 300 &&
				d.Report.Attached > 0 && d.Report.Attached+d.Report.AlreadyLeased == 300 && d.After.Keys == 300 && d.After.Unleased == 0
			t.Logf("attach step data: %s", s.Data)
		}
	}
	if !backedUp || !reported {
		t.Errorf("journal: backup %v, attach report %v: %+v", backedUp, reported, steps)
	}

	// The next scan passes ETCD-K8S-004.
	scanJSON := filepath.Join(dir, "scan.json")
	code, stdout, stderr = runCLI(t, "scan", "-f", fleet, "--profile", "full", "--report", "json:"+scanJSON)
	if code != results.ExitPassed && code != results.ExitFailed {
		t.Fatalf("scan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, msg := statusOf(loadJSONReport(t, scanJSON), "ETCD-K8S-004", "events", ""); st != results.Passed {
		t.Errorf("ETCD-K8S-004 after apply: %s %s", st, msg)
	}

	// A new plan has nothing left to attach.
	code, stdout, stderr = runCLI(t, "remediate", "plan", "-f", fleet, "--json", "--state-dir", state, "--actions", "attach-event-leases")
	if code != 0 {
		t.Fatalf("plan again: exit %d\n%s", code, stderr)
	}
	p2, err := remediate.DecodePlan([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := p2.Cluster("events"); c2 == nil || len(c2.Steps) != 0 {
		t.Errorf("after apply the plan still has steps: %+v", c2)
	}
}

package history_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
)

// Two recorded scans of a real fleet. Between them: a member of alpha is
// upgraded 3.5 → 3.6, v2 keys are written on beta, beta's events lose their
// leases, and another member of alpha goes down. Drift must report each of
// those, and no other fact change.
func TestDriftOnRealFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("real etcd 3.5 and 3.6 processes")
	}
	etcdtest.RequireVersion(t, "3.5")
	etcdtest.RequireVersion(t, "3.6")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alpha := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithName("alpha"))
	beta := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2(), etcdtest.WithName("beta"))
	betaCli := beta.Client(t)
	ev, err := seed.Events(ctx, betaCli, "/registry/events/", 40, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.V3Keys(ctx, alpha.Client(t), "/app/", 50); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	yaml := fmt.Sprintf("name: e2e\nclusters:\n  - name: alpha\n    endpoints: [%s]\n  - name: beta\n    endpoints: [%s]\n",
		strings.Join(alpha.Endpoints(), ", "), strings.Join(beta.Endpoints(), ", "))
	if err := os.WriteFile(inv, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.New(ctx, policies.Config{})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	scan := func() history.Entry {
		facts, err := collectors.Run(ctx, fleet, collectors.Options{Profile: "full"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := policies.Judge(ctx, engine, facts, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e, err := history.Record(ctx, state, rep)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := scan()

	upgraded, down := alpha.Members[0], alpha.Members[2]
	if err := upgraded.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := upgraded.Start("3.6"); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.V2Keys(ctx, beta.HTTPClient(), beta.Endpoints()[0], seed.V2Spec{Prefix: "/legacy", Keys: 5}); err != nil {
		t.Fatal(err)
	}
	// The events lose their leases, as `etcdctl migrate` left them: re-put
	// without one.
	resp, err := betaCli.Get(ctx, "/registry/events/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != ev.Leased {
		t.Fatalf("%d events, seeded %d", len(resp.Kvs), ev.Leased)
	}
	for _, kv := range resp.Kvs {
		if _, err := betaCli.Put(ctx, string(kv.Key), string(kv.Value)); err != nil {
			t.Fatal(err)
		}
	}
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	second := scan()

	s, err := history.Open(ctx, state, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	older, err := s.Get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := s.Get(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := history.Diff(older, newer, history.DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drift from the history in %s:\n%s", time.Since(start), dump(d))

	var got []string
	for _, f := range d.Facts {
		got = append(got, fmt.Sprintf("%s %s/%s", f.Kind, f.Cluster, f.Member))
	}
	sort.Strings(got)
	want := []string{
		"lease_coverage_dropped beta/",
		"member_unreachable alpha/" + down.Name,
		"member_upgraded alpha/" + upgraded.Name,
		"v2_keys_appeared beta/",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fact changes:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), dump(d))
	}
	if !d.Worse {
		t.Fatal("drift not worse")
	}
	// The controls follow the facts: something newly fails on beta (v2 data,
	// unleased events), and the member that went down is judged in error.
	var betaFails, downErrors int
	for _, c := range d.Controls {
		switch {
		case c.Transition == history.NewlyFailing && c.Cluster == "beta":
			betaFails++
		case c.Transition == history.NewError && c.Member == down.Name:
			downErrors++
		}
	}
	if betaFails < 2 || downErrors == 0 {
		t.Fatalf("control transitions: %d newly failing on beta, %d new errors on %s\n%s", betaFails, downErrors, down.Name, dump(d))
	}
	for _, c := range d.Controls {
		if c.Transition.Worse() && c.Cluster == "alpha" && c.Member != down.Name && c.Member != "" && c.Member != upgraded.Name {
			t.Errorf("unexpected %s on %s/%s: %s", c.Transition, c.Cluster, c.Member, c.Control)
		}
	}
}

func dump(d *history.Drift) string {
	var b strings.Builder
	_ = history.RenderDrift(&b, "cli", d)
	return b.String()
}

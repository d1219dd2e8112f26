package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/results"
)

// TestScanDefaultProfileJudgesSeedFacts: a scan that names no profile judges
// the seed's facts on real servers — custom v2 data on a 3.4 member
// (ETCD-V2-001, and the etcd2 backend ETCD-K8S-002) and unleased events on a
// 3.5 cluster (ETCD-K8S-004: 180 of 300) — and says in one line that only
// HashKV (--profile full) was left out. The same fleet with --profile quick
// skips the two controls and names them with the profile that collects them.
func TestScanDefaultProfileJudgesSeedFacts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	legacy := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithV2(), etcdtest.WithName("legacy"))
	c35 := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithName("c35"))
	if _, err := seed.RegistryV2(ctx, legacy.HTTPClient(), legacy.Endpoints()[0], seed.Registry{PodsPerNamespace: 3, EventsPerNamespace: 2}); err != nil {
		t.Fatal(err)
	}
	if res, err := seed.Events(ctx, c35.Client(t), "/registry/events/", 120, 180, time.Hour); err != nil || res.Leased != 120 || res.Unleased != 180 {
		t.Fatalf("seed events: %+v %v", res, err)
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	doc := fmt.Sprintf("name: seed\ndefaults:\n  collect: {command_timeout: 5s, dial_timeout: 2s}\nclusters:\n"+
		"  - name: legacy\n    endpoints: [%s]\n  - name: c35\n    endpoints: [%s]\n",
		strings.Join(legacy.Endpoints(), ", "), strings.Join(c35.Endpoints(), ", "))
	if err := os.WriteFile(inv, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	lm := legacy.Members[0].Name

	def := filepath.Join(dir, "default.json")
	code, out, stderr := runCLI(t, "scan", "-f", inv, "--report", "cli", "--report", "json:"+def)
	if code != results.ExitFailed {
		t.Fatalf("default scan exit %d, want 100\n%s\n%s", code, out, stderr)
	}
	rep := loadJSONReport(t, def)
	if rep.Facts == nil || rep.Facts.Profile != "standard" {
		t.Fatalf("default scan profile: %+v", rep.Facts)
	}
	for _, w := range []struct {
		control, cluster, member string
		status                   results.Status
		msg                      string
	}{
		{"ETCD-V2-001", "legacy", lm, results.Failed, "custom v2 keys"},
		{"ETCD-K8S-002", "legacy", lm, results.Failed, "observed etcd2, required etcd3"},
		{"ETCD-K8S-004", "c35", "", results.Failed, "180 of 300 events keys under /registry/events/ carry no lease"},
		{"ETCD-HEALTH-005", "c35", "", results.Skipped, "collector hashkv not selected"},
	} {
		st, msg := statusOf(rep, w.control, w.cluster, w.member)
		if st != w.status || !strings.Contains(msg, w.msg) {
			t.Errorf("default scan %s %s/%s: %s %q, want %s containing %q", w.control, w.cluster, w.member, st, msg, w.status, w.msg)
		}
	}
	if want := "2 controls skipped because profile standard did not collect its facts"; strings.Contains(out, want) {
		t.Errorf("default scan counts more than HashKV's control as left out:\n%s", out)
	}
	if want := "1 control skipped because profile standard did not collect its facts (ETCD-HEALTH-005): run with --profile full"; !strings.Contains(unwrap(out), want) {
		t.Errorf("default scan output lacks %q:\n%s", want, out)
	}

	quick := filepath.Join(dir, "quick.json")
	code, out, stderr = runCLI(t, "scan", "-f", inv, "--profile", "quick", "--report", "cli", "--report", "json:"+quick)
	if code != results.ExitFailed { // the etcd2 backend still fails
		t.Fatalf("quick scan exit %d, want 100\n%s\n%s", code, out, stderr)
	}
	rep = loadJSONReport(t, quick)
	for _, w := range []struct{ control, cluster, member, collector string }{
		{"ETCD-V2-001", "legacy", lm, "v2_count"},
		{"ETCD-K8S-004", "c35", "", "event_leases"},
	} {
		if st, msg := statusOf(rep, w.control, w.cluster, w.member); st != results.Skipped {
			t.Errorf("quick scan %s %s/%s: %s %q, want skipped", w.control, w.cluster, w.member, st, msg)
		}
	}
	if want := "3 controls skipped because profile quick did not collect their facts (ETCD-HEALTH-005, ETCD-K8S-004, ETCD-V2-001): run with --profile full"; !strings.Contains(unwrap(out), want) {
		t.Errorf("quick scan output lacks %q:\n%s", want, out)
	}
}

// unwrap joins the cli report's wrapped lines, so a test can look for a
// whole sentence whatever the terminal width.
func unwrap(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

package main

import (
	"context"
	"encoding/json"
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

func loadJSONReport(t *testing.T, path string) *results.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r results.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

// statusOf finds one result's status ("" when absent).
func statusOf(r *results.Report, control, cluster, member string) (results.Status, string) {
	for _, x := range r.Results {
		if x.Control == control && x.Cluster == cluster && x.Member == member {
			return x.Status, strings.Join(x.Messages, " | ")
		}
	}
	return "", ""
}

// TestScanMixedFleet scans a real mixed fleet — etcd 3.4 holding Kubernetes
// data in v2, 3.5, 3.6, and a 3-member 3.7 cluster with one member down —
// then judges the saved facts with eval: the exit code, the expected
// statuses, and the same results both ways.
func TestScanMixedFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	legacy := etcdtest.NewCluster(t, etcdtest.WithVersion("3.4"), etcdtest.WithV2(), etcdtest.WithName("legacy"))
	c35 := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithName("c35"))
	c36 := etcdtest.NewCluster(t, etcdtest.WithVersion("3.6"), etcdtest.WithName("c36"))
	c37 := etcdtest.NewCluster(t, etcdtest.WithVersion("3.7"), etcdtest.WithMembers(3), etcdtest.WithName("c37"))
	if _, err := seed.RegistryV2(ctx, legacy.HTTPClient(), legacy.Endpoints()[0], seed.Registry{PodsPerNamespace: 3, EventsPerNamespace: 2}); err != nil {
		t.Fatal(err)
	}
	down := c37.Members[2]
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	var b strings.Builder
	b.WriteString("name: mixed\ndefaults:\n  collect: {command_timeout: 3s, dial_timeout: 2s}\nclusters:\n")
	for _, c := range []struct {
		name, backend string
		c             *etcdtest.Cluster
	}{{"legacy", "etcd2", legacy}, {"c35", "", c35}, {"c36", "", c36}, {"c37", "", c37}} {
		fmt.Fprintf(&b, "  - name: %s\n    endpoints: [%s]\n    labels: {tier: small}\n", c.name, strings.Join(c.c.Endpoints(), ", "))
		if c.backend != "" {
			fmt.Fprintf(&b, "    kubernetes_backend: %s\n", c.backend)
		}
	}
	if err := os.WriteFile(inv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	scanJSON, factsJSON, evalJSON := filepath.Join(dir, "scan.json"), filepath.Join(dir, "facts.json"), filepath.Join(dir, "eval.json")
	code, out, stderr := runCLI(t, "scan", "-f", inv, "--profile", "full", "--report", "json:"+scanJSON, "--save-facts", factsJSON)
	if code != results.ExitFailed {
		t.Fatalf("scan exit %d, want 100\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "failed") {
		t.Errorf("no cli summary on stdout:\n%s", out)
	}
	rep := loadJSONReport(t, scanJSON)
	lm := legacy.Members[0].Name
	for _, w := range []struct {
		control, cluster, member string
		status                   results.Status
		msg                      string
	}{
		{"ETCD-V2-001", "legacy", lm, results.Failed, "custom v2 keys"},
		{"ETCD-V2-002", "legacy", lm, results.Failed, "GET /health"},
		{"ETCD-K8S-002", "legacy", lm, results.Failed, "observed etcd2, required etcd3"},
		{"ETCD-K8S-003", "legacy", lm, results.Passed, ""},
		{"ETCD-VER-002", "legacy", lm, results.Failed, "upgrade path 3.4 -> 3.5 -> 3.6 -> 3.7"},
		{"ETCD-VER-005", "legacy", lm, results.Failed, "line 3.4 no longer receives fixes"},
		{"ETCD-VER-002", "c35", c35.Members[0].Name, results.Failed, "next hop 3.5 -> 3.6"},
		{"ETCD-VER-001", "c35", c35.Members[0].Name, results.Passed, ""},
		{"ETCD-V2-001", "c36", c36.Members[0].Name, results.Passed, ""},
		{"ETCD-VER-002", "c36", c36.Members[0].Name, results.Failed, "written by 3.6"},
		{"ETCD-VER-002", "c37", c37.Members[0].Name, results.Passed, ""},
		{"ETCD-HEALTH-001", "c37", c37.Members[0].Name, results.Passed, ""},
		{"ETCD-HEALTH-001", "c37", down.Name, results.Failed, "member unreachable"},
		{"ETCD-VER-001", "c37", down.Name, results.Error, "member unreachable"},
		{"ETCD-HEALTH-007", "c37", "", results.Passed, ""},
		{"ETCD-VER-003", "c37", "", results.Passed, ""},
		{"ETCD-SEC-001", "c36", c36.Members[0].Name, results.Failed, "uses http"},
		{"ETCD-FLEET-001", "", "", results.Failed, "cluster legacy: lowest member runs 3.4.23, 3 minor versions behind"},
	} {
		st, msg := statusOf(rep, w.control, w.cluster, w.member)
		if st != w.status || !strings.Contains(msg, w.msg) {
			t.Errorf("%s %s/%s: %s %q, want %s containing %q", w.control, w.cluster, w.member, st, msg, w.status, w.msg)
		}
	}

	// eval on the saved facts: the same results, the same exit code.
	code, _, stderr = runCLI(t, "eval", "--facts", factsJSON, "--report", "json:"+evalJSON)
	if code != results.ExitFailed {
		t.Fatalf("eval exit %d, want 100: %s", code, stderr)
	}
	ev := loadJSONReport(t, evalJSON)
	a, _ := json.Marshal(rep.Results)
	e, _ := json.Marshal(ev.Results)
	if string(a) != string(e) {
		t.Errorf("eval results differ from the scan's:\nscan %s\neval %s", a, e)
	}
	if rep.Summary.Overall != ev.Summary.Overall || !rep.StartedAt.Equal(ev.StartedAt) {
		t.Errorf("summary/times differ: %+v vs %+v", rep.Summary.Overall, ev.Summary.Overall)
	}
}

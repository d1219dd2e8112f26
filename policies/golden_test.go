package policies

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

func loadFacts(t testing.TB, name string) *collectors.Facts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "facts", name))
	if err != nil {
		t.Fatal(err)
	}
	var f collectors.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &f
}

const (
	P = results.Passed
	F = results.Failed
	S = results.Skipped
	E = results.Error
)

// statusByControl folds results into control -> status, failing the test
// when one control gives different statuses on members the stage builds
// alike.
func statusByControl(t *testing.T, rs []results.Result) map[string]results.Status {
	t.Helper()
	got := map[string]results.Status{}
	for _, r := range rs {
		if prev, ok := got[r.Control]; ok && prev != r.Status {
			t.Errorf("%s: %s on one subject, %s on %s/%s", r.Control, prev, r.Status, r.Cluster, r.Member)
		}
		got[r.Control] = r.Status
	}
	return got
}

// TestSeedStages judges the saved facts of each stage of the seed's upgrade
// (2.2 with v2 data -> 2.3 -> 3.0 v2 only -> 3.1 migrated, events without
// leases -> 3.2 compliant) against the seed's own baseline (target 3.2.32)
// and checks the status of every control.
func TestSeedStages(t *testing.T) {
	e, err := New(context.Background(), Config{DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	twoX := map[string]results.Status{
		"ETCD-FLEET-001": F, "ETCD-HEALTH-001": S, "ETCD-HEALTH-002": S, "ETCD-HEALTH-003": S, "ETCD-HEALTH-004": S,
		"ETCD-HEALTH-005": S, "ETCD-HEALTH-006": S, "ETCD-HEALTH-007": S, "ETCD-HEALTH-008": S, "ETCD-HEALTH-009": S,
		"ETCD-K8S-001": P, "ETCD-K8S-002": F, "ETCD-K8S-003": P, "ETCD-K8S-004": S,
		"ETCD-SEC-001": P, "ETCD-SEC-002": P, "ETCD-SEC-003": P, "ETCD-V2-001": S, "ETCD-V2-002": S,
		"ETCD-VER-001": P, "ETCD-VER-002": F, "ETCD-VER-003": P, "ETCD-VER-004": P, "ETCD-VER-005": F,
	}
	stages := []struct {
		file string
		want map[string]results.Status
		// messages that must appear (control -> substring)
		msgs map[string]string
	}{
		{"seed-2.2.json", twoX, map[string]string{
			"ETCD-VER-002":    "next hop 2.2 -> 2.3 (install 2.3.8)",
			"ETCD-FLEET-001":  "the v2->v3 data migration must happen on 3.0 or 3.1, before 3.2",
			"ETCD-K8S-002":    "observed etcd2, required etcd3",
			"ETCD-HEALTH-001": "not supported by this server",
		}},
		{"seed-2.3.json", twoX, map[string]string{
			"ETCD-VER-002": "next hop 2.3 -> 3.0 (install 3.0.17): before it, every member on 2.3.x (2.3.8 advised); do not skip 3.0",
		}},
		{"seed-3.0.json", merge(twoX, map[string]results.Status{
			"ETCD-HEALTH-001": P, "ETCD-HEALTH-002": P, "ETCD-HEALTH-003": P, "ETCD-HEALTH-004": P, "ETCD-HEALTH-006": P,
			"ETCD-HEALTH-007": P, "ETCD-HEALTH-008": P, "ETCD-K8S-004": P,
			"ETCD-V2-001": F, "ETCD-VER-001": F,
		}), map[string]string{
			"ETCD-V2-001":     "etcd 3.0.17 holds 5200 custom v2 keys in 310 dirs (5200 of them Kubernetes keys under /registry)",
			"ETCD-VER-001":    "etcd#11613",
			"ETCD-VER-002":    "next hop 3.0 -> 3.1",
			"ETCD-V2-002":     "cannot disable the v2 API",
			"ETCD-HEALTH-005": "HashKV needs etcd 3.3+",
		}},
		{"seed-3.1.json", merge(twoX, map[string]results.Status{
			"ETCD-FLEET-001": P, "ETCD-HEALTH-001": P, "ETCD-HEALTH-002": P, "ETCD-HEALTH-003": P, "ETCD-HEALTH-004": P,
			"ETCD-HEALTH-006": P, "ETCD-HEALTH-007": P, "ETCD-HEALTH-008": P,
			"ETCD-K8S-002": P, "ETCD-K8S-004": F, "ETCD-V2-001": P, "ETCD-VER-001": F, "ETCD-VER-005": P,
		}), map[string]string{
			"ETCD-K8S-004": "800 of 800 events keys under /registry/events/ carry no lease (coverage 0%, minimum 99%)",
			"ETCD-VER-002": "next hop 3.1 -> 3.2 (install 3.2.32): before it, the v3 store holds data",
		}},
		{"seed-3.2.json", map[string]results.Status{
			"ETCD-FLEET-001": P, "ETCD-HEALTH-001": P, "ETCD-HEALTH-002": P, "ETCD-HEALTH-003": P, "ETCD-HEALTH-004": P,
			"ETCD-HEALTH-005": S, "ETCD-HEALTH-006": P, "ETCD-HEALTH-007": P, "ETCD-HEALTH-008": P, "ETCD-HEALTH-009": S,
			"ETCD-K8S-001": P, "ETCD-K8S-002": P, "ETCD-K8S-003": P, "ETCD-K8S-004": P,
			"ETCD-SEC-001": P, "ETCD-SEC-002": P, "ETCD-SEC-003": P, "ETCD-V2-001": S, "ETCD-V2-002": P,
			"ETCD-VER-001": P, "ETCD-VER-002": P, "ETCD-VER-003": P, "ETCD-VER-004": P, "ETCD-VER-005": P,
		}, map[string]string{
			"ETCD-V2-001": "etcdutl check v2store",
		}},
	}
	for _, st := range stages {
		t.Run(strings.TrimSuffix(st.file, ".json"), func(t *testing.T) {
			rep, err := Judge(context.Background(), e, loadFacts(t, st.file), nil, time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			got := statusByControl(t, rep.Results)
			var ids []string
			for id := range st.want {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			if len(got) != len(st.want) {
				t.Errorf("got %d controls, want %d", len(got), len(st.want))
			}
			for _, id := range ids {
				if got[id] != st.want[id] {
					t.Errorf("%s: got %s (%s), want %s", id, got[id], messagesOf(rep.Results, id), st.want[id])
				}
			}
			for id, sub := range st.msgs {
				if m := messagesOf(rep.Results, id); !strings.Contains(m, sub) {
					t.Errorf("%s: messages %q lack %q", id, m, sub)
				}
			}
			// 3 members x 14 member controls + 9 cluster + 1 fleet.
			if n := len(rep.Results); n != 3*14+9+1 {
				t.Errorf("%d results, want %d", n, 3*14+9+1)
			}
		})
	}
}

// TestSeedStageDefaultBaseline: the compliant 3.2 stage of the seed is far
// behind today's target; the message gives the whole path and the snapshot
// traps ahead.
func TestSeedStageDefaultBaseline(t *testing.T) {
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Judge(context.Background(), e, loadFacts(t, "seed-3.2.json"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := statusByControl(t, rep.Results)
	for id, want := range map[string]results.Status{"ETCD-VER-002": F, "ETCD-VER-005": F, "ETCD-FLEET-001": F, "ETCD-VER-001": P} {
		if got[id] != want {
			t.Errorf("%s: got %s, want %s (%s)", id, got[id], want, messagesOf(rep.Results, id))
		}
	}
	if m := messagesOf(rep.Results, "ETCD-VER-002"); !strings.Contains(m, "upgrade path 3.2 -> 3.3 -> 3.4 -> 3.5 -> 3.6 -> 3.7") {
		t.Errorf("VER-002 message %q lacks the path", m)
	}
	if c := results.ExitCode(rep.Summary.Overall, false); c != results.ExitFailed {
		t.Errorf("exit %d, want 100", c)
	}
}

func merge(a, b map[string]results.Status) map[string]results.Status {
	out := map[string]results.Status{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func messagesOf(rs []results.Result, id string) string {
	var ms []string
	for _, r := range rs {
		if r.Control == id {
			ms = append(ms, r.Messages...)
		}
	}
	return strings.Join(ms, " | ")
}

// TestDemoFleet judges the facts a real `etcdaudit demo` scan saved (three
// embedded 3.5 clusters: legacy on etcd2, half-migrated, compliant) and
// compares every result's status with testdata/facts/demo.expected
// ("cluster member control status", "-" for none).
func TestDemoFleet(t *testing.T) {
	e, err := New(context.Background(), Config{DataFiles: []string{"../testdata/facts/demo-baseline.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Judge(context.Background(), e, loadFacts(t, "demo.json"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range rep.Results {
		got = append(got, strings.Join([]string{dash(r.Cluster), dash(r.Member), r.Control, string(r.Status)}, " "))
	}
	b, err := os.ReadFile("../testdata/facts/demo.expected")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("result %d: got %q, want %q", i, g, w)
			}
		}
	}
	if c := results.ExitCode(rep.Summary.Overall, false); c != results.ExitFailed {
		t.Errorf("exit %d, want 100", c)
	}
}

package remediate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/results"
)

var update = flag.Bool("update", false, "rewrite the golden plans")

// fm describes one member of a test cluster.
type fm struct {
	name, version string
	leader        bool
	v2Keys        int64 // -1: v2 API off
}

func testCluster(name, tier string, ms ...fm) collectors.ClusterFacts {
	c := collectors.ClusterFacts{Name: name, Labels: map[string]string{"tier": tier}}
	leader := ""
	for i, m := range ms {
		if m.leader {
			leader = fmt.Sprintf("%x", 0x1000+i)
		}
	}
	for i, m := range ms {
		id := fmt.Sprintf("%x", 0x1000+i)
		url := fmt.Sprintf("http://10.0.0.%d:2379", i+1)
		mf := collectors.MemberFacts{
			Name: m.name, ID: id, Endpoint: url, ClientURLs: []string{url},
			PeerURLs: []string{fmt.Sprintf("http://10.0.0.%d:2380", i+1)},
			Started:  true, Reachable: true,
			Version: &collectors.VersionFacts{Server: m.version, Cluster: clusterVersion(ms)},
			Status:  &collectors.StatusFacts{Leader: leader, DBSize: 1 << 20, RaftIndex: uint64(1000 + i)},
			V3:      &collectors.V3Facts{Keys: 42},
		}
		if m.v2Keys >= 0 {
			mf.V2 = &collectors.V2Facts{Enabled: true, Counted: true, Keys: m.v2Keys}
		} else {
			mf.V2 = &collectors.V2Facts{Enabled: false}
		}
		c.Members = append(c.Members, mf)
	}
	return c
}

func clusterVersion(ms []fm) string {
	low := ms[0].version
	for _, m := range ms {
		if m.version < low { // fine for the single-digit versions of these tests
			low = m.version
		}
	}
	return low[:strings.LastIndexByte(low, '.')] + ".0"
}

// failingVersions is a judged report where the target control fails on
// every cluster given.
func failingVersions(clusters ...string) *results.Report {
	rep := &results.Report{Controls: []results.Control{
		{ID: "ETCD-VER-002", Remediation: ActionUpgrade},
		{ID: "ETCD-V2-001", Remediation: ActionMigrateV2},
	}}
	for _, c := range clusters {
		rep.Results = append(rep.Results, results.Result{Control: "ETCD-VER-002", Cluster: c, Member: "m1", Status: results.Failed})
	}
	return rep
}

// testHooks is an inventory's hook set as a user writes it (an ssh wrapper),
// without the hooks named in missing.
func testHooks(missing ...string) HookSet {
	h := inventory.Hooks{
		hookStop:         {"/usr/local/sbin/etcd-host", "{{.Host}}", "systemctl", "stop", "etcd"},
		hookStart:        {"/usr/local/sbin/etcd-host", "{{.Host}}", "systemctl", "start", "etcd"},
		hookInstall:      {"/usr/local/sbin/etcd-host", "{{.Host}}", "install-etcd", "{{.ToVersion}}"},
		hookFlags:        {"/usr/local/sbin/etcd-host", "{{.Host}}", "etcd-flags", "--add", "{{join .FlagsAdd \",\"}}", "--drop", "{{join .FlagsDrop \",\"}}"},
		hookVerify:       {"/usr/local/bin/check-apiservers", "{{.Cluster}}"},
		hookCheckV2:      {"/usr/local/sbin/etcd-host", "{{.Host}}", "etcdutl", "check", "v2store", "--data-dir", "/var/lib/etcd"},
		hookStopWriters:  {"/usr/local/sbin/apiservers", "{{.Cluster}}", "stop"},
		hookStartWriters: {"/usr/local/sbin/apiservers", "{{.Cluster}}", "start"},
		hookSetBackend:   {"/usr/local/sbin/apiservers", "{{.Cluster}}", "backend", "{{.Backend}}"},
	}
	for _, m := range missing {
		delete(h, m)
	}
	return InventoryHooks(hooks.NewRunner(h, hooks.Options{}))
}

func testData(t *testing.T) *UpgradeData {
	t.Helper()
	raw, err := policies.LoadData(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := UpgradeDataFrom(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testOptions(o Options) Options {
	o.Now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	o.ToolVersion = "test"
	o.BackupDir = "/var/lib/etcdaudit/backups"
	if o.Hooks == nil {
		o.Hooks = func(string) HookSet { return testHooks() }
	}
	return o
}

func TestPlanGolden(t *testing.T) {
	data := testData(t)
	cases := []struct {
		name  string
		c     collectors.ClusterFacts
		opts  Options
		check func(t *testing.T, c *ClusterPlan)
	}{
		{
			name: "seed-fleet",
			c:    testCluster("legacy", "small", fm{"m1", "2.2.5", false, 0}, fm{"m2", "2.2.5", true, 0}, fm{"m3", "2.2.5", false, 0}),
			opts: Options{Target: "3.2.32"},
			check: func(t *testing.T, c *ClusterPlan) {
				wantHops(t, c, "2.2.5->2.3.8", "2.3.8->3.0.17", "3.0.17->3.1.20", "3.1.20->3.2.32")
			},
		},
		{
			name: "seed-fleet-v2-data",
			c:    testCluster("legacy", "small", fm{"m1", "2.2.5", false, 120}, fm{"m2", "2.2.5", true, 120}, fm{"m3", "2.2.5", false, 120}),
			opts: Options{Target: "3.2.32"},
			check: func(t *testing.T, c *ClusterPlan) {
				wantRefused(t, c, "custom v2 data on m1 (120 keys", "3.2 panics on a data dir without v3 data")
			},
		},
		{
			name: "3.4-to-3.7",
			c:    testCluster("prod", "medium", fm{"m1", "3.4.23", true, -1}, fm{"m2", "3.4.23", false, -1}, fm{"m3", "3.4.23", false, -1}),
			opts: Options{Target: "3.7.3", Via: map[string]string{"3.5": "3.5.35", "3.6": "3.6.16"}},
			check: func(t *testing.T, c *ClusterPlan) {
				wantHops(t, c, "3.4.23->3.5.35", "3.5.35->3.6.16", "3.6.16->3.7.3")
				// followers first, leader last, in every hop
				for _, hop := range []string{"3.4-3.5", "3.5-3.6", "3.6-3.7"} {
					wantOrder(t, c, "upgrade/"+hop+"/member/m2", "upgrade/"+hop+"/member/m3", "upgrade/"+hop+"/member/m1")
				}
				// --enable-v2 off and a snapshot past it before the first 3.6 binary;
				// a snapshot written by 3.6 before 3.7.
				wantOrder(t, c, "upgrade/3.5-3.6/backup", "upgrade/3.5-3.6/restart/m2", "upgrade/3.5-3.6/restart/m1", "upgrade/3.5-3.6/force-snapshot", "upgrade/3.5-3.6/member/m2")
				wantOrder(t, c, "upgrade/3.6-3.7/restart/m1", "upgrade/3.6-3.7/force-snapshot", "upgrade/3.6-3.7/member/m2")
				s := stepByID(t, c, "upgrade/3.5-3.6/restart/m2")
				if strings.Join(s.FlagsDrop, ",") != "--enable-v2" || strings.Join(s.FlagsAdd, ",") != "--snapshot-count=5" {
					t.Errorf("3.5 restart flags: add %v drop %v", s.FlagsAdd, s.FlagsDrop)
				}
				if s := stepByID(t, c, "upgrade/3.5-3.6/member/m2"); strings.Join(s.FlagsDrop, ",") != "--snapshot-count" {
					t.Errorf("3.6 install should restore the snapshot count, drops %v", s.FlagsDrop)
				}
				if s := stepByID(t, c, "upgrade/3.6-3.7/wait-version"); !strings.Contains(strings.Join(s.Postconditions, ";"), "storage version is 3.7.0") {
					t.Errorf("3.7 wait misses the storage version: %v", s.Postconditions)
				}
			},
		},
		{
			name: "mixed-mid-upgrade",
			c:    testCluster("mid", "medium", fm{"m1", "3.5.35", true, -1}, fm{"m2", "3.6.16", false, -1}, fm{"m3", "3.5.35", false, -1}),
			opts: Options{Target: "3.6.16", Via: map[string]string{"3.5": "3.5.35"}},
			check: func(t *testing.T, c *ClusterPlan) {
				wantHops(t, c, "3.5.35->3.6.16")
				for _, s := range c.Steps {
					if s.Member == "m2" {
						t.Errorf("step %s touches m2, which already runs 3.6.16", s.ID)
					}
				}
				wantOrder(t, c, "upgrade/3.5-3.6/member/m3", "upgrade/3.5-3.6/member/m1", "upgrade/3.5-3.6/wait-version")
			},
		},
		{
			name: "below-min-patch",
			c:    testCluster("old", "small", fm{"m1", "3.5.20", false, -1}, fm{"m2", "3.5.20", true, -1}, fm{"m3", "3.5.21", false, -1}),
			opts: Options{Target: "3.6.16"},
			check: func(t *testing.T, c *ClusterPlan) {
				wantHops(t, c, "3.5.20->3.5.33", "3.5.21->3.5.33", "3.5.33->3.6.16")
				wantOrder(t, c, "upgrade/3.5-patch-3.5.33/member/m1", "upgrade/3.5-patch-3.5.33/member/m3", "upgrade/3.5-patch-3.5.33/member/m2", "upgrade/3.5-3.6/restart/m1")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			facts := &collectors.Facts{Schema: collectors.FactsSchema, Inventory: "fleet.yaml", Clusters: []collectors.ClusterFacts{tc.c}}
			p, err := MakePlan(failingVersions(tc.c.Name), facts, nil, data, testOptions(tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			c := &p.Clusters[0]
			tc.check(t, c)
			var js, txt bytes.Buffer
			if err := WriteJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			if err := RenderText(&txt, p, false); err != nil {
				t.Fatal(err)
			}
			validatePlanSchema(t, js.Bytes())
			back, err := DecodePlan(js.Bytes())
			if err != nil {
				t.Fatalf("decode own plan: %v", err)
			}
			if back.Clusters[0].Fingerprint != back.Clusters[0].Facts.Fingerprint() {
				t.Errorf("fingerprint does not survive JSON")
			}
			golden(t, filepath.Join("testdata", "plans", tc.name+".json"), js.Bytes())
			golden(t, filepath.Join("testdata", "plans", tc.name+".txt"), txt.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the planner wrote now (run with -update after checking the change):\n%s", path, got)
	}
}

func hops(c *ClusterPlan) []string {
	var out []string
	for _, s := range c.Steps {
		if s.Kind == KindMemberUpgrade {
			out = appendUnique(out, s.From+"->"+s.To)
		}
	}
	return out
}

func wantHops(t *testing.T, c *ClusterPlan, want ...string) {
	t.Helper()
	if c.Refused != "" {
		t.Fatalf("refused: %s", c.Refused)
	}
	if got := hops(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hops %v, want %v", got, want)
	}
}

func wantRefused(t *testing.T, c *ClusterPlan, parts ...string) {
	t.Helper()
	if c.Refused == "" {
		t.Fatalf("planned %d steps, want a refusal", len(c.Steps))
	}
	for _, p := range parts {
		if !strings.Contains(c.Refused, p) {
			t.Errorf("refusal %q does not say %q", c.Refused, p)
		}
	}
	if len(c.Steps) != 0 {
		t.Errorf("a refused cluster has %d steps", len(c.Steps))
	}
}

func stepByID(t *testing.T, c *ClusterPlan, id string) *Step {
	t.Helper()
	for i := range c.Steps {
		if c.Steps[i].ID == id {
			return &c.Steps[i]
		}
	}
	t.Fatalf("no step %s", id)
	return nil
}

func wantOrder(t *testing.T, c *ClusterPlan, ids ...string) {
	t.Helper()
	pos := map[string]int{}
	for i, s := range c.Steps {
		pos[s.ID] = i
	}
	last := -1
	for _, id := range ids {
		p, ok := pos[id]
		if !ok {
			t.Errorf("no step %s", id)
			return
		}
		if p < last {
			t.Errorf("step %s comes before the steps it must follow (%v)", id, ids)
		}
		last = p
	}
}

func TestPlanRefusals(t *testing.T) {
	data := testData(t)
	plan := func(c collectors.ClusterFacts, o Options) *ClusterPlan {
		t.Helper()
		facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{c}}
		p, err := MakePlan(failingVersions(c.Name), facts, nil, data, testOptions(o))
		if err != nil {
			t.Fatal(err)
		}
		return &p.Clusters[0]
	}
	t.Run("v2 data before 3.6", func(t *testing.T) {
		c := plan(testCluster("v2", "small", fm{"m1", "3.5.35", true, 7}, fm{"m2", "3.5.35", false, 7}, fm{"m3", "3.5.35", false, 7}), Options{Target: "3.6.16"})
		wantRefused(t, c, "m1 (7 keys, 0 with a TTL)", "hop to 3.6", "detected disallowed custom content in v2store")
	})
	t.Run("v2 not counted", func(t *testing.T) {
		cf := testCluster("quick", "small", fm{"m1", "3.5.35", true, 0})
		cf.Members[0].V2.Counted = false
		wantRefused(t, plan(cf, Options{Target: "3.6.16"}), "not counted", "--profile full")
	})
	t.Run("missing hook", func(t *testing.T) {
		c := plan(testCluster("nohook", "small", fm{"m1", "3.6.16", true, -1}), Options{Target: "3.7.3", Hooks: func(string) HookSet { return testHooks(hookInstall) }})
		wantRefused(t, c, "no install_version hook for cluster nohook")
	})
	t.Run("no check_v2store hook", func(t *testing.T) {
		// Optional: the plan goes on without the check and says so.
		c := plan(testCluster("nocheck", "small", fm{"m1", "3.5.35", true, 0}), Options{Target: "3.6.16", Hooks: func(string) HookSet { return testHooks(hookCheckV2) }})
		if c.Refused != "" {
			t.Fatalf("refused: %s", c.Refused)
		}
		if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, "no check_v2store hook") }) {
			t.Errorf("warnings %q: want the missing check_v2store named", c.Warnings)
		}
		checks := 0
		for _, s := range c.Steps {
			for _, h := range s.Hooks {
				if h.Name == hookCheckV2 {
					checks++
				}
			}
		}
		if checks != 0 {
			t.Errorf("%d check_v2store calls in a plan whose inventory has none", checks)
		}
		with := plan(testCluster("check", "small", fm{"m1", "3.5.35", true, 0}), Options{Target: "3.6.16"})
		for _, s := range with.Steps {
			if s.Kind != KindMemberUpgrade {
				continue
			}
			var names []string
			for _, h := range s.Hooks {
				names = append(names, h.Name)
			}
			if want := []string{hookStop, hookCheckV2, hookFlags, hookInstall, hookStart, hookVerify}; !slices.Equal(names, want) {
				t.Errorf("step %s runs %q, want %q", s.ID, names, want)
			}
		}
	})
	t.Run("no hooks at all", func(t *testing.T) {
		c := plan(testCluster("bare", "small", fm{"m1", "3.6.16", true, -1}), Options{Target: "3.7.3", Hooks: func(string) HookSet { return nil }})
		wantRefused(t, c, "stop_member", "install_version", "start_member")
	})
	t.Run("members two minors apart", func(t *testing.T) {
		c := plan(testCluster("skew", "small", fm{"m1", "3.4.23", true, -1}, fm{"m2", "3.6.16", false, -1}), Options{Target: "3.7.3"})
		wantRefused(t, c, "more than one minor apart")
	})
	t.Run("no landing version for a line", func(t *testing.T) {
		d := *data
		d.Minimum = map[string]string{}
		facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{testCluster("nov", "small", fm{"m1", "3.4.23", true, -1})}}
		p, err := MakePlan(failingVersions("nov"), facts, nil, &d, testOptions(Options{Target: "3.6.16"}))
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, &p.Clusters[0], "no version to land on for 3.5", "--via 3.5.N")
	})
	t.Run("landing below the hop minimum", func(t *testing.T) {
		c := plan(testCluster("lowvia", "small", fm{"m1", "3.5.20", true, -1}), Options{Target: "3.6.16", Via: map[string]string{"3.5": "3.5.22"}})
		wantRefused(t, c, "below 3.5.24", "--via 3.5.24")
	})
	t.Run("auth on 3.4 -> 3.5", func(t *testing.T) {
		cf := testCluster("auth", "small", fm{"m1", "3.4.23", true, -1}, fm{"m2", "3.4.23", false, -1})
		on := true
		cf.Members[1].Security = &collectors.SecurityFacts{AuthEnabled: &on}
		wantRefused(t, plan(cf, Options{Target: "3.5.35"}), "auth is enabled (seen on m2)", "etcd#11943")
		cf.Members[1].Security = nil
		if c := plan(cf, Options{Target: "3.5.35"}); c.Refused != "" {
			t.Errorf("without auth: %s", c.Refused)
		}
	})
	t.Run("unreachable member", func(t *testing.T) {
		cf := testCluster("down", "small", fm{"m1", "3.5.35", true, -1}, fm{"m2", "3.5.35", false, -1})
		cf.Members[1].Reachable, cf.Members[1].Version = false, nil
		wantRefused(t, plan(cf, Options{Target: "3.6.16"}), "member m2 is unreachable")
	})
	t.Run("no leader", func(t *testing.T) {
		cf := testCluster("noleader", "small", fm{"m1", "3.5.35", false, -1})
		wantRefused(t, plan(cf, Options{Target: "3.6.16"}), "no member reports a leader")
	})
	t.Run("nothing failing", func(t *testing.T) {
		facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{testCluster("ok", "small", fm{"m1", "3.7.3", true, -1})}}
		p, err := MakePlan(&results.Report{}, facts, nil, data, testOptions(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if c := p.Clusters[0]; c.Refused != "" || len(c.Steps) != 0 {
			t.Errorf("a passing cluster got steps %d or refusal %q", len(c.Steps), c.Refused)
		}
	})
	t.Run("data action not planned on its own", func(t *testing.T) {
		rep := failingVersions()
		rep.Results = append(rep.Results, results.Result{Control: "ETCD-V2-001", Cluster: "d", Member: "m1", Status: results.Failed})
		facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{testCluster("d", "small", fm{"m1", "3.5.35", true, 3})}}
		p, err := MakePlan(rep, facts, nil, data, testOptions(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		c := p.Clusters[0]
		if len(c.NotPlanned) != 1 || c.NotPlanned[0].Action != ActionMigrateV2 || len(c.Steps) != 0 {
			t.Errorf("not planned %+v, steps %d", c.NotPlanned, len(c.Steps))
		}
	})
}

func TestFingerprintIgnoresVolatileFacts(t *testing.T) {
	c := testCluster("f", "small", fm{"m1", "3.5.35", true, -1}, fm{"m2", "3.5.35", false, -1})
	a := Summarize(&c)
	c.Members[0].Status.RaftIndex += 500
	c.Members[0].Status.DBSize *= 2
	if b := Summarize(&c); a.Fingerprint() != b.Fingerprint() {
		t.Errorf("raft index and db size changed the fingerprint: %v", a.Diff(b))
	}
	c.Members[1].Version.Server = "3.6.16"
	b := Summarize(&c)
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("a version change kept the fingerprint")
	}
	if d := strings.Join(a.Diff(b), "; "); !strings.Contains(d, "member m2: version 3.5.35 -> 3.6.16") {
		t.Errorf("diff %q", d)
	}
}

// TestFingerprintIgnoresV2WritesButNotV2Data: API servers still writing to
// the etcd2 backend (they are stopped by the plan's stop_writers step) move
// the v2 key counts between plan and apply; that must not make the plan
// stale. v2 data appearing or disappearing must: it decides the data steps.
func TestFingerprintIgnoresV2WritesButNotV2Data(t *testing.T) {
	c := testCluster("f", "small", fm{"m1", "3.5.35", true, 3000}, fm{"m2", "3.5.35", false, 3000})
	a := Summarize(&c)
	c.Members[0].V2.Keys, c.Members[1].V2.Keys = 3017, 3016
	c.Members[0].V2.TTLKeys = 12
	b := Summarize(&c)
	c.Members[0].V2.TTLKeys = 0
	if a.Fingerprint() == b.Fingerprint() {
		t.Errorf("v2 TTL keys none -> some kept the fingerprint")
	}
	if d := strings.Join(a.Diff(b), "; "); d != "member m1: v2 ttl keys none -> some" {
		t.Errorf("diff %q", d)
	}
	b = Summarize(&c)
	if a.Fingerprint() != b.Fingerprint() {
		t.Errorf("v2 writes changed the fingerprint: %v", a.Diff(b))
	}
	if b.Members[0].V2Keys != 3017 {
		t.Errorf("the summary lost the v2 count: %d", b.Members[0].V2Keys)
	}
	c.Members[1].V2.Keys = 0
	b = Summarize(&c)
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("v2 data some -> none kept the fingerprint")
	}
	if d := strings.Join(a.Diff(b), "; "); d != "member m2: v2 keys some -> none" {
		t.Errorf("diff %q", d)
	}
}

func TestPlanRedactsSecretsInHooks(t *testing.T) {
	data := testData(t)
	h := inventory.Hooks{
		hookStop:    {"/bin/host", "stop"},
		hookStart:   {"/bin/host", "start"},
		hookInstall: {"/bin/host", "install", "{{.ToVersion}}"},
		hookVerify:  {"/bin/probe", "--etcd-password=s3cr3t-pw"},
	}
	o := testOptions(Options{Target: "3.6.16", Hooks: func(string) HookSet {
		return InventoryHooks(hooks.NewRunner(h, hooks.Options{Secrets: []string{"s3cr3t-pw"}}))
	}})
	facts := &collectors.Facts{Schema: collectors.FactsSchema, Clusters: []collectors.ClusterFacts{testCluster("s", "small", fm{"m1", "3.6.14", true, -1})}}
	p, err := MakePlan(failingVersions("s"), facts, nil, data, o)
	if err != nil {
		t.Fatal(err)
	}
	var js, txt bytes.Buffer
	if err := WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	if err := RenderText(&txt, p, true); err != nil {
		t.Fatal(err)
	}
	if len(p.Clusters[0].Steps) == 0 {
		t.Fatalf("no steps: %s", p.Clusters[0].Refused)
	}
	for _, out := range []string{js.String(), txt.String()} {
		if strings.Contains(out, "s3cr3t-pw") {
			t.Fatalf("the password is in the plan:\n%s", out)
		}
		if !strings.Contains(out, "--etcd-password=") {
			t.Fatalf("the verify hook is missing from the plan:\n%s", out)
		}
	}
}

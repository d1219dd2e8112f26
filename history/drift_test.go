package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/results"
)

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func member(name string, i int) collectors.MemberFacts {
	ep := fmt.Sprintf("https://127.0.0.1:%d", 2379+10*i)
	return collectors.MemberFacts{
		Name: name, ID: fmt.Sprintf("%016x", 0xa0+i), Endpoint: ep, Started: true, Reachable: true,
		Version: &collectors.VersionFacts{Server: "3.5.35", Cluster: "3.5.0"},
		Status:  &collectors.StatusFacts{DBSize: 100 << 20, Leader: "a0", RaftIndex: 1000},
		Alarms:  &collectors.AlarmFacts{},
		V2:      &collectors.V2Facts{Enabled: true, Counted: true},
		Backend: &collectors.BackendFacts{Observed: collectors.BackendEtcd3},
		Security: &collectors.SecurityFacts{Scheme: "https", CertNotAfter: ptr(t0.Add(200 * 24 * time.Hour)),
			ClientCertRequired: ptr(true), AuthEnabled: ptr(true)},
	}
}

// base is a small healthy fleet: cluster a (3 members) and cluster b (1).
func base(at time.Time) *results.Report {
	f := &collectors.Facts{Schema: collectors.FactsSchema, StartedAt: at, FinishedAt: at.Add(time.Minute)}
	for _, c := range []struct {
		name string
		n    int
	}{{"a", 3}, {"b", 1}} {
		cf := collectors.ClusterFacts{Name: c.name,
			EventLeases: &collectors.LeaseCoverage{Keys: 1000, Leased: 1000, Ratio: 1}}
		for i := 0; i < c.n; i++ {
			cf.Members = append(cf.Members, member(fmt.Sprintf("%s-%d", c.name, i), i))
		}
		f.Clusters = append(f.Clusters, cf)
	}
	r := &results.Report{ScanID: at.Format("20060102"), StartedAt: at, FinishedAt: at.Add(time.Minute), Facts: f,
		Controls: []results.Control{{ID: "C1", Title: "first"}, {ID: "C2", Title: "second"}}}
	for _, c := range f.Clusters {
		for _, m := range c.Members {
			r.Results = append(r.Results, results.Result{Control: "C1", Cluster: c.Name, Member: m.Name, Status: results.Passed})
		}
		r.Results = append(r.Results, results.Result{Control: "C2", Cluster: c.Name, Status: results.Passed})
	}
	return r
}

func clone(t *testing.T, r *results.Report) *results.Report {
	t.Helper()
	var out results.Report
	if err := json.Unmarshal(mustJSON(t, r), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func factKinds(d *Drift) []string {
	var out []string
	for _, f := range d.Facts {
		w := ""
		if f.Worse {
			w = "!"
		}
		out = append(out, fmt.Sprintf("%s%s %s", w, f.Kind, subject(f.Cluster, f.Member)))
	}
	sort.Strings(out)
	return out
}

func TestDriftIdenticalScansIsEmpty(t *testing.T) {
	a := base(t0)
	b := clone(t, a)
	b.ScanID, b.StartedAt = "next", t0.Add(24*time.Hour)
	b.Facts.FinishedAt = b.StartedAt
	d, err := Diff(a, b, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Worse || len(d.Controls) != 0 || len(d.Facts) != 0 {
		t.Fatalf("drift on an unchanged fleet: %s", mustJSON(t, d))
	}
}

func TestDriftDoesNotModifyInputs(t *testing.T) {
	a, b := base(t0), base(t0.Add(24*time.Hour))
	b.Facts.Clusters[0].Members[0].Reachable = false
	b.Results[0].Status = results.Failed
	ja, jb := mustJSON(t, a), mustJSON(t, b)
	if _, err := Diff(a, b, DriftOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja, mustJSON(t, a)) || !bytes.Equal(jb, mustJSON(t, b)) {
		t.Fatal("Diff modified a report")
	}
	if _, err := Diff(nil, b, DriftOptions{}); err == nil {
		t.Fatal("nil report accepted")
	}
}

func TestTransitions(t *testing.T) {
	statuses := []results.Status{"", results.Passed, results.Failed, results.Error, results.Skipped, results.Waived}
	want := map[[2]results.Status]Transition{
		{"", results.Failed}: NewlyFailing, {results.Passed, results.Failed}: NewlyFailing,
		{results.Error, results.Failed}: NewlyFailing, {results.Skipped, results.Failed}: NewlyFailing,
		{results.Waived, results.Failed}: NewlyFailing, {results.Failed, results.Failed}: StillFailing,
		{"", results.Error}: NewError, {results.Passed, results.Error}: NewError,
		{results.Failed, results.Error}: NewError, {results.Skipped, results.Error}: NewError,
		{results.Waived, results.Error}: NewError, {results.Error, results.Error}: StillError,
		{results.Failed, results.Passed}: Resolved, {results.Error, results.Passed}: Resolved,
		{results.Failed, results.Waived}: NewlyWaived, {results.Error, results.Waived}: NewlyWaived,
		{results.Passed, results.Skipped}: NewlySkipped, {results.Failed, results.Skipped}: NewlySkipped,
		{results.Error, results.Skipped}: NewlySkipped,
		{results.Failed, ""}:             FailingGone, {results.Error, ""}: FailingGone,
	}
	for _, from := range statuses {
		for _, to := range statuses {
			if from == "" && to == "" {
				continue
			}
			a, b := base(t0), base(t0.Add(24*time.Hour))
			a.Results, b.Results = nil, nil
			if from != "" {
				a.Results = []results.Result{{Control: "C1", Cluster: "a", Member: "a-0", Status: from, Messages: []string{"old"}}}
			}
			if to != "" {
				b.Results = []results.Result{{Control: "C1", Cluster: "a", Member: "a-0", Status: to, Messages: []string{"new"}}}
			}
			d, err := Diff(a, b, DriftOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[[2]results.Status{from, to}]
			switch {
			case !ok && len(d.Controls) != 0:
				t.Errorf("%q → %q: unexpected %s", from, to, d.Controls[0].Transition)
			case ok && (len(d.Controls) != 1 || d.Controls[0].Transition != w):
				t.Errorf("%q → %q: got %+v, want %s", from, to, d.Controls, w)
			case ok:
				c := d.Controls[0]
				if c.Title != "first" || c.From != from || c.To != to {
					t.Errorf("%q → %q: %+v", from, to, c)
				}
				wantMsg := "new"
				if w == Resolved || w == NewlyWaived || w == FailingGone {
					wantMsg = "old"
				}
				if len(c.Messages) != 1 || c.Messages[0] != wantMsg {
					t.Errorf("%q → %q: messages %v, want %s", from, to, c.Messages, wantMsg)
				}
			}
			if d.Worse != (w == NewlyFailing || w == NewError) {
				t.Errorf("%q → %q: worse = %v", from, to, d.Worse)
			}
		}
	}
}

func TestFactChanges(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name   string
		mutate func(a, b *collectors.Facts)
		want   []string // "!kind subject" for worse
	}{
		{"member upgraded 3.5 to 3.6", func(a, b *collectors.Facts) {
			m := &b.Clusters[0].Members[1]
			m.Version.Server, m.V2.Enabled, m.V2.Counted = "3.6.16", false, false
		}, []string{"member_upgraded a/a-1"}},
		{"member downgraded", func(a, b *collectors.Facts) { b.Clusters[1].Members[0].Version.Server = "3.5.9" },
			[]string{"!member_downgraded b/b-0"}},
		{"version compare is numeric", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Version.Server = "3.9.0"
			b.Clusters[1].Members[0].Version.Server = "3.10.0"
		}, []string{"member_upgraded b/b-0"}},
		{"release candidate to its release is an upgrade", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Version.Server = "3.6.0-rc.1"
			b.Clusters[1].Members[0].Version.Server = "3.6.0"
		}, []string{"member_upgraded b/b-0"}},
		{"release back to its release candidate is a downgrade", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Version.Server = "v3.6.0"
			b.Clusters[1].Members[0].Version.Server = "3.6.0-rc.1"
		}, []string{"!member_downgraded b/b-0"}},
		{"pre-releases order by semver", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Version.Server = "3.6.0-rc.2"
			b.Clusters[1].Members[0].Version.Server = "3.6.0-rc.10"
		}, []string{"member_upgraded b/b-0"}},
		{"cluster version moved", func(a, b *collectors.Facts) {
			for i := range b.Clusters[0].Members {
				b.Clusters[0].Members[i].Version.Cluster = "3.6.0"
			}
		}, []string{"cluster_version_changed a"}},
		{"v2 keys appeared, reported once per cluster", func(a, b *collectors.Facts) {
			for i := range b.Clusters[0].Members {
				b.Clusters[0].Members[i].V2.Keys = 7
			}
		}, []string{"!v2_keys_appeared a"}},
		{"v2 keys vanished", func(a, b *collectors.Facts) { a.Clusters[1].Members[0].V2.Keys = 3 }, []string{"v2_keys_vanished b"}},
		{"v2 keys grew", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].V2.Keys = 3
			b.Clusters[1].Members[0].V2.Keys = 5
		}, []string{"!v2_keys_changed b"}},
		{"v2 keys shrank", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].V2.Keys = 5
			b.Clusters[1].Members[0].V2.Keys = 3
		}, []string{"v2_keys_changed b"}},
		{"v2 not counted is unknown, not zero", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].V2.Keys = 5
			b.Clusters[1].Members[0].V2.Counted = false
		}, nil},
		{"v2 API turned on with keys", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].V2.Enabled = false
			b.Clusters[1].Members[0].V2.Keys = 2
		}, []string{"!v2_api_enabled b", "!v2_keys_appeared b"}},
		{"v2 API turned off", func(a, b *collectors.Facts) {
			b.Clusters[1].Members[0].V2.Enabled = false
		}, []string{"v2_api_disabled b"}},
		{"backend etcd3 to mixed", func(a, b *collectors.Facts) {
			b.Clusters[1].Members[0].Backend.Observed = collectors.BackendMixed
		}, []string{"!backend_changed b"}},
		{"backend etcd2 to etcd3 is better", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Backend.Observed = collectors.BackendEtcd2
		}, []string{"backend_changed b"}},
		{"members disagreeing on backend read as mixed", func(a, b *collectors.Facts) {
			b.Clusters[0].Members[2].Backend.Observed = collectors.BackendEtcd2
		}, []string{"!backend_changed a"}},
		{"lease coverage dropped past threshold", func(a, b *collectors.Facts) {
			b.Clusters[0].EventLeases = &collectors.LeaseCoverage{Keys: 1000, Leased: 400, Unleased: 600, Ratio: 0.4}
		}, []string{"!lease_coverage_dropped a"}},
		{"lease coverage moved less than threshold", func(a, b *collectors.Facts) {
			b.Clusters[0].EventLeases = &collectors.LeaseCoverage{Keys: 1000, Leased: 960, Ratio: 0.96}
		}, nil},
		{"lease coverage rose", func(a, b *collectors.Facts) {
			a.Clusters[0].EventLeases = &collectors.LeaseCoverage{Keys: 1000, Leased: 0, Ratio: 0}
		}, []string{"lease_coverage_rose a"}},
		{"lease coverage unknown on one side", func(a, b *collectors.Facts) { b.Clusters[0].EventLeases = nil }, nil},
		{"member went down: one change, nothing else", func(a, b *collectors.Facts) {
			m := &b.Clusters[0].Members[2]
			*m = collectors.MemberFacts{Name: m.Name, ID: m.ID, Endpoint: m.Endpoint, UnreachableReason: "connection refused"}
		}, []string{"!member_unreachable a/a-2"}},
		{"member down matched by endpoint when its name is unknown", func(a, b *collectors.Facts) {
			m := &b.Clusters[0].Members[2]
			*m = collectors.MemberFacts{Endpoint: m.Endpoint, UnreachableReason: "connection refused"}
		}, []string{"!member_unreachable a/" + "https://127.0.0.1:2399"}},
		{"member back", func(a, b *collectors.Facts) {
			m := &a.Clusters[0].Members[2]
			*m = collectors.MemberFacts{Name: m.Name, ID: m.ID, Endpoint: m.Endpoint}
		}, []string{"member_reachable a/a-2"}},
		{"member added and removed", func(a, b *collectors.Facts) {
			b.Clusters[0].Members = append(b.Clusters[0].Members[:1], member("a-3", 3), member("a-4", 4))
		}, []string{"!member_removed a/a-1", "!member_removed a/a-2", "member_added a/a-3", "member_added a/a-4"}},
		{"renamed member with same id is the same member", func(a, b *collectors.Facts) {
			b.Clusters[1].Members[0].Name = "b-zero"
		}, nil},
		{"cluster added and removed", func(a, b *collectors.Facts) {
			b.Clusters[1].Name = "c"
		}, []string{"cluster_added c", "cluster_removed b"}},
		{"discovery failed", func(a, b *collectors.Facts) { b.Clusters[1].DiscoveryErr = "all endpoints down" },
			[]string{"!discovery_failed b"}},
		{"db grew 50%", func(a, b *collectors.Facts) { b.Clusters[1].Members[0].Status.DBSize = 150 << 20 },
			[]string{"!db_size_grew b/b-0"}},
		{"db grew 10% (under ratio)", func(a, b *collectors.Facts) { b.Clusters[1].Members[0].Status.DBSize = 110 << 20 }, nil},
		{"small db doubled (under bytes)", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Status.DBSize = 1 << 20
			b.Clusters[1].Members[0].Status.DBSize = 2 << 20
		}, nil},
		{"alarm raised once per cluster", func(a, b *collectors.Facts) {
			for i := range b.Clusters[0].Members {
				b.Clusters[0].Members[i].Alarms = &collectors.AlarmFacts{Alarms: []collectors.MemberAlarm{{MemberID: "a1", Alarm: "NOSPACE"}}}
			}
		}, []string{"!alarm_raised a"}},
		{"alarm cleared", func(a, b *collectors.Facts) {
			a.Clusters[1].Members[0].Alarms = &collectors.AlarmFacts{Alarms: []collectors.MemberAlarm{{MemberID: "b0", Alarm: "CORRUPT"}}}
		}, []string{"alarm_cleared b"}},
		{"cert crossed into the warning window", func(a, b *collectors.Facts) {
			// 31 days left at the older scan, 30 minus a minute at the newer one.
			na := t0.Add(31 * day)
			a.Clusters[1].Members[0].Security.CertNotAfter = &na
			b.Clusters[1].Members[0].Security.CertNotAfter = &na
		}, []string{"!cert_expiring b/b-0"}},
		{"cert already in the window is not news again", func(a, b *collectors.Facts) {
			na := t0.Add(20 * day)
			a.Clusters[1].Members[0].Security.CertNotAfter = &na
			b.Clusters[1].Members[0].Security.CertNotAfter = &na
		}, nil},
		{"cert replaced by a short one", func(a, b *collectors.Facts) {
			b.Clusters[1].Members[0].Security.CertNotAfter = ptr(t0.Add(24*time.Hour + 5*day))
		}, []string{"!cert_expiring b/b-0"}},
		{"cert renewed", func(a, b *collectors.Facts) {
			b.Clusters[1].Members[0].Security.CertNotAfter = ptr(t0.Add(600 * day))
		}, []string{"cert_renewed b/b-0"}},
		{"security posture weakened", func(a, b *collectors.Facts) {
			s := b.Clusters[1].Members[0].Security
			s.Scheme, s.AuthEnabled, s.ClientCertRequired = "http", ptr(false), ptr(false)
		}, []string{"!auth_disabled b/b-0", "!client_cert_not_required b/b-0", "!tls_disabled b/b-0"}},
		{"learner promoted", func(a, b *collectors.Facts) { a.Clusters[1].Members[0].Status.IsLearner = true },
			[]string{"learner_changed b/b-0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := base(t0), base(t0.Add(24*time.Hour))
			tc.mutate(a.Facts, b.Facts)
			d, err := Diff(a, b, DriftOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Controls == nil {
				d.Controls = []ControlChange{}
			}
			got := factKinds(d)
			want := slices.Clone(tc.want)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			worse := false
			for _, w := range want {
				worse = worse || strings.HasPrefix(w, "!")
			}
			if d.Worse != worse {
				t.Fatalf("worse = %v, want %v", d.Worse, worse)
			}
			for _, f := range d.Facts {
				if f.Message == "" {
					t.Fatalf("%s has no message", f.Kind)
				}
			}
		})
	}
}

func TestDriftWithoutFactsNotes(t *testing.T) {
	a, b := base(t0), base(t0.Add(24*time.Hour))
	a.Facts = nil
	b.Facts.Clusters[0].Members[0].Reachable = false
	d, err := Diff(a, b, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Facts) != 0 || len(d.Notes) != 1 || !strings.Contains(d.Notes[0], a.ScanID) {
		t.Fatalf("facts %v notes %v", d.Facts, d.Notes)
	}
}

func TestDriftThresholdOptions(t *testing.T) {
	a, b := base(t0), base(t0.Add(24*time.Hour))
	b.Facts.Clusters[0].EventLeases = &collectors.LeaseCoverage{Keys: 1000, Leased: 980, Ratio: 0.98}
	b.Facts.Clusters[1].Members[0].Status.DBSize = 110 << 20
	d, _ := Diff(a, b, DriftOptions{LeaseCoverageDelta: 0.01, DBGrowthRatio: 0.05, DBGrowthMinBytes: 1 << 20})
	if got := factKinds(d); strings.Join(got, ",") != "!db_size_grew b/b-0,!lease_coverage_dropped a" {
		t.Fatalf("got %v", got)
	}
}

func TestRenderDrift(t *testing.T) {
	a, b := base(t0), base(t0.Add(24*time.Hour))
	b.Results[0].Status = results.Failed
	b.Results[0].Messages = []string{"evil | pipe\n\x1b[31mforged line <script>"}
	b.Facts.Clusters[0].Members[1].Version.Server = "3.6.16"
	b.Facts.Clusters[0].Members[1].Name = "a-1|<b>"
	d, _ := Diff(a, b, DriftOptions{})
	for _, f := range DriftFormats {
		var buf bytes.Buffer
		if err := RenderDrift(&buf, f, d); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		switch f {
		case "cli":
			if !strings.Contains(out, "WORSE: 1 newly failing") || !strings.Contains(out, "member_upgraded") ||
				strings.Contains(out, "\x1b") || strings.Contains(out, "\nforged") {
				t.Fatalf("cli:\n%s", out)
			}
		case "markdown":
			if !strings.Contains(out, "## Newly failing (1)") || strings.Contains(out, "<script>") || strings.Contains(out, "<b>") ||
				strings.Contains(out, "evil | pipe") {
				t.Fatalf("markdown:\n%s", out)
			}
		case "json":
			var back Drift
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Schema != DriftSchema || !back.Worse {
				t.Fatalf("json: %v %+v", err, back)
			}
		}
	}
	if err := RenderDrift(&bytes.Buffer{}, "yaml", d); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// The synthetic fleet's day 10 upgrades cluster 0 and day 20 makes its
// v2 keys vanish: drift must say exactly that about that cluster.
func TestDriftOnSyntheticFleet(t *testing.T) {
	spec := historytest.Spec{Clusters: 3}
	spec.Day = 9
	a := historytest.Report(spec)
	spec.Day = 10
	b := historytest.Report(spec)
	d, err := Diff(a, b, DriftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range d.Facts {
		if f.Cluster == "cluster-0000" {
			got = append(got, fmt.Sprintf("%s %s", f.Kind, f.Member))
		}
	}
	sort.Strings(got)
	want := []string{
		"backend_changed ", // mixed → etcd3: the v2 keys are no longer visible
		"cluster_version_changed ",
		"member_unreachable cluster-0000-m0", // the synthetic fleet's day-10 outage
		"member_upgraded cluster-0000-m1",
		"member_upgraded cluster-0000-m2",
		"v2_api_disabled ",
		"v2_keys_vanished ",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("cluster-0000 changes\n%s", strings.Join(got, "\n"))
	}
	// m1 and m2 resolve the version and v2 controls; m0 is down, so its 14
	// member controls error; cluster 0's lease control and the version
	// control of clusters 1 and 2 (upgraded on days 11 and 12) still fail.
	want2 := map[string]int{string(Resolved): 4, string(NewError): 14, string(StillFailing): 1 + 2*3}
	for k, n := range want2 {
		if d.Counts[k] != n {
			t.Errorf("%s = %d, want %d (counts %v)", k, d.Counts[k], n, d.Counts)
		}
	}
	if len(d.Controls) != 4+14+7 {
		t.Errorf("%d control changes", len(d.Controls))
	}
}

func TestRenderGroupsSameCause(t *testing.T) {
	a, b := base(t0), base(t0.Add(24*time.Hour))
	a.Results, b.Results = nil, nil
	for _, id := range []string{"C1", "C2", "C3", "C4"} {
		a.Results = append(a.Results, results.Result{Control: id, Cluster: "a", Member: "a-2", Status: results.Passed})
		msg := "member unreachable"
		if id == "C4" {
			msg = "other reason"
		}
		b.Results = append(b.Results, results.Result{Control: id, Cluster: "a", Member: "a-2", Status: results.Error, Messages: []string{msg}})
	}
	d, _ := Diff(a, b, DriftOptions{})
	var buf bytes.Buffer
	if err := RenderDrift(&buf, "cli", d); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "3 controls     a/a-2  [→ error]") || !strings.Contains(out, "C1, C2, C3") ||
		!strings.Contains(out, "C4             a/a-2  [passed → error]") {
		t.Fatalf("cli:\n%s", out)
	}
}

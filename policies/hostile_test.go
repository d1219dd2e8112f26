package policies

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

const hostile = "../testdata/policies/"

// TestHostilePolicies: each broken policy folder stops New with an error
// naming the file, the line and the problem.
func TestHostilePolicies(t *testing.T) {
	cases := []struct {
		dir  string
		want []string
	}{
		{"bad-syntax", []string{"testdata/policies/bad-syntax/broken.rego:11:", "unexpected } token"}},
		{"no-id", []string{"testdata/policies/no-id/noid.rego:1:", "package etcdaudit.controls.test.noid: control without an id"}},
		{"dup-id", []string{"control id TEST-DUP-001 used by 2 packages", "dup-id/a.rego:1", "dup-id/b.rego:1"}},
		{"bad-meta", []string{"bad-meta/meta.rego:1:", "custom.impact 2 outside 0.0–1.0", `custom.scope node: want member, cluster or fleet`, `unknown fact "verison"`}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			_, err := New(context.Background(), Config{PolicyDirs: []string{hostile + c.dir}})
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ProblemsError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a ProblemsError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestHostileOutputs: a control whose output is malformed, or that fails at
// runtime, makes its own results error; the other controls of the same
// evaluation are judged normally.
func TestHostileOutputs(t *testing.T) {
	for _, c := range []struct{ dir, id, want string }{
		{"bad-output", "TEST-OUT-001", "deny/skip entry 42 is json.Number, want a string message"},
		{"conflict", "TEST-CONFLICT-001", "conflict"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			e, err := New(context.Background(), Config{PolicyDirs: []string{hostile + c.dir}})
			if err != nil {
				t.Fatal(err)
			}
			f := &collectors.Facts{Clusters: []collectors.ClusterFacts{{Name: "c", Members: []collectors.MemberFacts{{
				Name: "m", Reachable: true, Version: &collectors.VersionFacts{Server: "3.4.23"},
			}}}}}
			rs, err := e.Evaluate(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			var sawBad, sawOther bool
			for _, r := range rs {
				switch r.Control {
				case c.id:
					sawBad = true
					if r.Status != results.Error || !strings.Contains(strings.Join(r.Messages, " "), c.want) {
						t.Errorf("%s: %s %q, want error containing %q", r.Control, r.Status, r.Messages, c.want)
					}
				case "ETCD-VER-001":
					sawOther = true
					if r.Status != results.Failed {
						t.Errorf("ETCD-VER-001 on 3.4.23: %s %q, want failed", r.Status, r.Messages)
					}
				}
			}
			if !sawBad || !sawOther {
				t.Errorf("results lack %s or ETCD-VER-001: %+v", c.id, rs)
			}
		})
	}
}

func TestDataOverrides(t *testing.T) {
	_, err := New(context.Background(), Config{DataFiles: []string{hostile + "data-wrong-type.yaml"}})
	if err == nil {
		t.Fatal("wrong types accepted")
	}
	for _, w := range []string{
		"data-wrong-type.yaml:3: baseline.lease_coverage_min: want a number (it is one in the bundled data), got a string",
		"data-wrong-type.yaml:4: baseline.maintained_lines: want a list (it is one in the bundled data), got a string",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// A good override changes one threshold, keeps the others, adds a key.
	e, err := New(context.Background(), Config{DataFiles: []string{hostile + "good/site.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	b := e.Data()["baseline"].(map[string]any)
	if got := b["cert_expiry_days"].(interface{ String() string }).String(); got != "60" {
		t.Errorf("cert_expiry_days = %s, want 60", got)
	}
	if b["target"] != "3.7.3" {
		t.Errorf("target = %v, want the bundled 3.7.3 kept", b["target"])
	}
	if e.Data()["site"] == nil {
		t.Error("site key not added")
	}
	// Not a mapping at all.
	if _, err := New(context.Background(), Config{DataFiles: []string{"../testdata/waivers/good.yaml"}}); err != nil {
		t.Logf("(a waivers file as data is a mapping of new keys: %v)", err)
	}
}

func TestUserPoliciesNoBuiltin(t *testing.T) {
	e, err := New(context.Background(), Config{PolicyDirs: []string{hostile + "good"}, DataFiles: []string{hostile + "good/site.yaml"}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	if cs := e.Controls(); len(cs) != 1 || cs[0].ID != "SITE-NAME-001" || cs[0].Source != "../testdata/policies/good/naming.rego:1" {
		t.Fatalf("controls = %+v, want only SITE-NAME-001", cs)
	}
	f := &collectors.Facts{Clusters: []collectors.ClusterFacts{{Name: "c", Members: []collectors.MemberFacts{
		{Name: "node7", Reachable: true, Version: &collectors.VersionFacts{Server: "3.4.23"}},
	}}}}
	rs, err := e.Evaluate(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Status != results.Failed || len(rs[0].Messages) != 2 {
		t.Fatalf("results = %+v, want one failure with two messages", rs)
	}
	if _, err := New(context.Background(), Config{NoBuiltin: true}); err == nil || !strings.Contains(err.Error(), "no controls") {
		t.Errorf("--no-builtin without policies: %v", err)
	}
}

func TestSelection(t *testing.T) {
	e, err := New(context.Background(), Config{Controls: []string{"ETCD-V2-*", "ETCD-VER-001"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range e.Controls() {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "ETCD-V2-001,ETCD-V2-002,ETCD-VER-001" {
		t.Errorf("selected %s", got)
	}
	// Unselected controls are not in any query: only member scope is prepared.
	if e.scopes[results.ScopeCluster] != nil || e.scopes[results.ScopeFleet] != nil || len(e.scopes[results.ScopeMember]) != 3 {
		t.Errorf("queries prepared for unselected controls: %+v", e.scopes)
	}
	e, err = New(context.Background(), Config{Tags: []string{"security"}, Controls: []string{"ETCD-SEC-*"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Controls()); n != 3 {
		t.Errorf("--tags security --controls ETCD-SEC-*: %d controls, want 3", n)
	}
	for _, bad := range []Config{{Controls: []string{"ETCD-NOPE-*"}}, {Tags: []string{"nosuchtag"}}, {Controls: []string{"[bad"}}} {
		if _, err := New(context.Background(), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestWaivers(t *testing.T) {
	e, err := New(context.Background(), Config{DataFiles: []string{"../testdata/facts/seed-baseline.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWaivers("../testdata/waivers/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	facts := loadFacts(t, "seed-3.2.json")
	facts.Clusters[0].Members[0].V2.Enabled = true // etcd-0 now fails V2-002
	facts.Clusters[0].Members[2].V2.Enabled = true // etcd-2 too, but no waiver matches it
	facts.Clusters[0].Members[0].Version.Server = "3.1.20"
	rep, err := Judge(context.Background(), e, facts, w, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		switch {
		case r.Control == "ETCD-V2-002" && r.Member == "etcd-0":
			// 3.1 cannot disable v2: skipped, and a skip is never waived.
			if r.Status != results.Skipped {
				t.Errorf("etcd-0 V2-002: %s", r.Status)
			}
		case r.Control == "ETCD-V2-002" && r.Member == "etcd-2":
			if r.Status != results.Failed || r.Waiver != nil {
				t.Errorf("etcd-2 V2-002: %s %+v, want failed (glob etcd-[01] does not match)", r.Status, r.Waiver)
			}
		case r.Control == "ETCD-VER-002" && r.Member == "etcd-0":
			if r.Status != results.Failed || r.ExpiredWaiver == nil || !strings.Contains(strings.Join(r.Messages, " "), "expired on 2026-01-01") {
				t.Errorf("etcd-0 VER-002: %s %q, want failed with the expired waiver named", r.Status, r.Messages)
			}
		}
	}
	// A live waiver turns the failure into waived.
	facts.Clusters[0].Members[0].Version.Server = "3.2.32"
	facts.Clusters[0].Members[1].V2.Enabled = true
	rep, err = Judge(context.Background(), e, facts, w, now)
	if err != nil {
		t.Fatal(err)
	}
	var waived int
	for _, r := range rep.Results {
		if r.Status == results.Waived {
			waived++
			if r.Control != "ETCD-V2-002" || r.Waiver == nil || r.Waiver.Source != "../testdata/waivers/good.yaml:2" {
				t.Errorf("unexpected waived result %+v", r)
			}
		}
	}
	if waived != 2 || rep.Summary.Overall.Waived != 2 {
		t.Errorf("%d waived (summary %d), want 2 (etcd-0, etcd-1)", waived, rep.Summary.Overall.Waived)
	}
}

func TestHostileWaivers(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string
	}{
		{"malformed.yaml", []string{
			"malformed.yaml:4: justification is required; cluster glob \"[unclosed\": syntax error in pattern; expires \"31/12/2026\"",
			"malformed.yaml:8: unknown waiver field \"justificaton\"",
		}},
		{"not-yaml.yaml", []string{"not-yaml.yaml", "yaml: line 1: did not find expected '-' indicator"}},
	} {
		_, err := LoadWaivers("../testdata/waivers/" + c.file)
		if err == nil {
			t.Errorf("%s: no error", c.file)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.file, err, w)
			}
		}
	}
	w, err := LoadWaivers("../testdata/waivers/unknown-control.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Judge(context.Background(), e, &collectors.Facts{}, w, time.Now())
	if err == nil || !strings.Contains(err.Error(), `unknown-control.yaml:4: waiver for unknown control "ETCD-NOPE-999"`) {
		t.Errorf("unknown control: %v", err)
	}
}

// TestHostileFacts: absurd facts (negative sizes, empty and garbage
// versions, nil members, overflowing spreads, control characters) are
// judged without a panic or a tool error, and never all pass.
func TestHostileFacts(t *testing.T) {
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Judge(context.Background(), e, loadFacts(t, "hostile.json"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Summary.Overall
	if s.Total == 0 || s.Failed == 0 || s.Error == 0 {
		t.Errorf("summary %+v: want failures and errors", s)
	}
	for _, r := range rep.Results {
		if r.Cluster == "no-members" && r.Status == results.Passed {
			t.Errorf("%s passed on a cluster whose discovery failed", r.Control)
		}
		if r.Cluster == "weird" && r.Member == "" && strings.HasPrefix(r.Control, "ETCD-SEC") {
			t.Errorf("%s: a member without name, id or endpoint lost its subject", r.Control)
		}
		if r.Status == results.Error && strings.Contains(strings.Join(r.Messages, " "), "policy error") {
			t.Errorf("%s %s/%s: a control broke on hostile facts: %v", r.Control, r.Cluster, r.Member, r.Messages)
		}
	}
}

package collectors

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRegistrySelect(t *testing.T) {
	r := NewRegistry()
	names := func(regs []Registration) []string {
		var out []string
		for _, g := range regs {
			out = append(out, g.Name)
		}
		return out
	}
	quick, label, err := r.Select(ProfileQuick, nil, nil)
	if err != nil || label != ProfileQuick {
		t.Fatalf("quick: %v %q", err, label)
	}
	for _, walker := range []string{"v2_count", "hashkv", "event_leases"} {
		if slices.Contains(names(quick), walker) {
			t.Errorf("quick profile runs the walker %s", walker)
		}
	}
	// The default judges the v2 store and the events leases, never HashKV.
	std, label, err := r.Select("", nil, nil)
	if err != nil || label != ProfileStandard {
		t.Fatalf("default: %v %q", err, label)
	}
	if n := names(std); !slices.Contains(n, "v2_count") || !slices.Contains(n, "event_leases") || slices.Contains(n, "hashkv") ||
		len(n) != len(r.All())-1 {
		t.Errorf("standard profile runs %v", n)
	}
	for name, want := range map[string]string{"version": ProfileQuick, "v2_count": ProfileStandard, "event_leases": ProfileStandard, "hashkv": ProfileFull, "nope": ""} {
		if got := r.ProfileFor(name); got != want {
			t.Errorf("ProfileFor(%s) = %q, want %q", name, got, want)
		}
	}
	if _, _, err := r.Select("fast", nil, nil); err == nil || !strings.Contains(err.Error(), "quick, standard, full") {
		t.Errorf("unknown profile: %v", err)
	}
	full, _, _ := r.Select(ProfileFull, nil, nil)
	if len(full) != len(r.All()) {
		t.Errorf("full runs %d of %d collectors", len(full), len(r.All()))
	}
	got, label, err := r.Select(ProfileQuick, []string{"v3,backend", "event_leases"}, nil)
	if err != nil || label != "custom" || !slices.Equal(names(got), []string{"v3", "backend", "event_leases"}) {
		t.Errorf("include: %v %q %v", names(got), label, err)
	}
	got, _, _ = r.Select(ProfileFull, []string{"!hashkv", "-security"}, []string{"v2_count"})
	if n := names(got); slices.Contains(n, "hashkv") || slices.Contains(n, "security") || slices.Contains(n, "v2_count") || len(n) != len(r.All())-3 {
		t.Errorf("exclude: %v", n)
	}
	if _, _, err := r.Select(ProfileQuick, []string{"verison"}, []string{"nope"}); err == nil ||
		!strings.Contains(err.Error(), `"verison"`) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "known: version") {
		t.Errorf("unknown names: %v", err)
	}
	if _, _, err := r.Select("fast", nil, nil); err == nil {
		t.Error("unknown profile accepted")
	}
	if err := r.Register(Registration{Name: "v3", Collector: CollectorFunc(nil)}); err == nil {
		t.Error("duplicate name accepted")
	}
}

func TestParseAlarms(t *testing.T) {
	f := parseAlarms([]string{
		"etcdserver: no leader",
		"memberID:10276657743932975437 alarm:NOSPACE ",
		"memberID:1 alarm:CORRUPT",
		"member_id:2 alarm:NONE",
	})
	want := []MemberAlarm{{MemberID: "1", Alarm: "CORRUPT"}, {MemberID: "8e9e05c52164694d", Alarm: "NOSPACE"}}
	if !slices.Equal(f.Alarms, want) {
		t.Fatalf("got %v, want %v", f.Alarms, want)
	}
}

func TestDisplayKey(t *testing.T) {
	for in, want := range map[string]string{
		"/registry/a": "/registry/a",
		"\x00":        `"\x00"`,
		"/a\xffb":     `"/a\xffb"`,
		`"quoted"`:    `"\"quoted\""`,
		"line\nbreak": `"line\nbreak"`,
		"ünï":         "ünï",
		"":            `""`,
	} {
		got := DisplayKey([]byte(in))
		if got != want {
			t.Errorf("DisplayKey(%q) = %s, want %s", in, got, want)
		}
		back, err := ParseKey(got)
		if err != nil || string(back) != in {
			t.Errorf("ParseKey(%s) = %q, %v", got, back, err)
		}
	}
}

// TestConsistencyDisagreement feeds member facts that disagree the ways a
// real cluster can: a member with a stale member list, a member that
// follows another leader, a lagging raft index.
func TestConsistencyDisagreement(t *testing.T) {
	list := func(ids ...string) *MemberListFacts {
		f := &MemberListFacts{}
		for _, id := range ids {
			f.Members = append(f.Members, ListedMember{ID: id, Name: "m" + id})
		}
		return f
	}
	cf := &ClusterFacts{Members: []MemberFacts{
		{Name: "a", Started: true, Status: &StatusFacts{Leader: "1", RaftIndex: 100, RaftAppliedIndex: 99}, MemberList: list("1", "2", "3")},
		{Name: "b", Started: true, Status: &StatusFacts{Leader: "1", RaftIndex: 90, RaftAppliedIndex: 80}, MemberList: list("1", "2", "3")},
		{Name: "c", Started: true, Status: &StatusFacts{Leader: "2", RaftIndex: 40, RaftAppliedIndex: 40}, MemberList: list("1", "2")},
		{Name: "d", Started: true, IsLearner: true},
		{Name: "", Started: false},
	}}
	if err := collectConsistency(t.Context(), &Target{Cluster: &ClusterTarget{Facts: cf}}); err != nil {
		t.Fatal(err)
	}
	c := cf.Consistency
	if c.MemberListsAgree || c.LeadersAgree || !slices.Equal(c.Leaders, []string{"1", "2"}) ||
		c.RaftIndexMin != 40 || c.RaftIndexMax != 100 || c.RaftIndexSpread != 60 || c.AppliedSpread != 59 ||
		c.MembersCompared != 3 || c.VotingMembers != 3 || c.Learners != 1 || c.Unstarted != 1 {
		t.Fatalf("%+v", c)
	}
	// Every member without a leader: they agree on nothing useful.
	cf = &ClusterFacts{Members: []MemberFacts{{Name: "a", Started: true, Status: &StatusFacts{Leader: "0"}}}}
	if err := collectConsistency(t.Context(), &Target{Cluster: &ClusterTarget{Facts: cf}}); err != nil || cf.Consistency.LeadersAgree {
		t.Fatalf("no leader must not agree: %+v %v", cf.Consistency, err)
	}
	// No status anywhere and status not selected: skipped, not a zero.
	cf = &ClusterFacts{Members: []MemberFacts{{Name: "a", Started: true}}}
	err := collectConsistency(t.Context(), &Target{Cluster: &ClusterTarget{Facts: cf}, Selected: func(string) bool { return false }})
	if _, ok := err.(*skipError); !ok || cf.Consistency != nil {
		t.Fatalf("want skip, got %v %+v", err, cf.Consistency)
	}
}

// TestAllBefore37: keys-only walks are for clusters known to run before
// 3.7; a 3.7 pre-release, an unparsable version or no version at all is not
// known to.
func TestAllBefore37(t *testing.T) {
	mf := func(vs ...string) []MemberFacts {
		var out []MemberFacts
		for _, v := range vs {
			m := MemberFacts{}
			if v != "-" {
				m.Version = &VersionFacts{Server: v}
			}
			out = append(out, m)
		}
		return out
	}
	for _, tc := range []struct {
		members []MemberFacts
		want    bool
	}{
		{mf("3.6.16", "v3.5.35", "-"), true},
		{mf("3.6.16", "3.7.0-rc.0"), false},
		{mf("3.6.16", "3.10.1"), false},
		{mf("3.6.16", "garbage"), false},
		{mf("3.6.16", ""), false},
		{mf("-"), false},
		{nil, false},
	} {
		if got := allBefore37(tc.members); got != tc.want {
			t.Errorf("allBefore37(%+v) = %v", tc.members, got)
		}
	}
}

func TestV2CounterHostile(t *testing.T) {
	good := `{"action":"get","node":{"dir":true,"nodes":[
		{"key":"/registry","dir":true,"nodes":[{"key":"/registry/a","value":"{\"x\":[1,{\"y\":2}]}","modifiedIndex":5},
			{"key":"/registry/d","dir":true}]},
		{"key":"/t","value":"v","ttl":30,"expiration":"2030-01-01T00:00:00Z"},
		{"key":"/\u0000odd","value":"v","extra":{"nested":[[[]]]}}]}}`
	c := v2Counter{registry: "/registry"}
	if err := c.document(json.NewDecoder(strings.NewReader(good))); err != nil {
		t.Fatal(err)
	}
	if c.keys != 3 || c.dirs != 2 || c.ttl != 1 || c.registryKeys != 1 || c.registryNodes != 3 || len(c.samples) != 3 || c.samples[2] != `"/\x00odd"` {
		t.Fatalf("%+v", c)
	}
	deep := `{"node":` + strings.Repeat(`{"nodes":[`, 600) + strings.Repeat(`]}`, 600) + `}`
	for name, doc := range map[string]string{
		"deep": deep, "truncated": good[:len(good)/2], "not json": "<html>404</html>", "wrong type": `{"node":{"nodes":{"a":1}}}`,
		"key not string": `{"node":{"key":5}}`, "empty": "",
	} {
		c := v2Counter{registry: "/registry"}
		if err := c.document(json.NewDecoder(strings.NewReader(doc))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzV2Counter(f *testing.F) {
	f.Add(`{"action":"get","node":{"dir":true,"nodes":[{"key":"/a","value":"v"}]}}`)
	f.Add(`{"node":{"nodes":[{"nodes":[{"dir":true}]}]}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		c := v2Counter{registry: "/registry"}
		_ = c.document(json.NewDecoder(strings.NewReader(doc)))
	})
}

func TestRPCErrorLearner(t *testing.T) {
	err := rpcError(t.Context(), errors.New("etcdserver: rpc not supported for learner"))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("%v", err)
	}
}

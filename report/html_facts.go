package report

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/internal/units"
	"github.com/etcdaudit/etcdaudit/results"
)

// The HTML page's pieces built from facts: member rows, cluster facts,
// waivers and the version chart, all as plain strings the template escapes.

func fillMember(hm *htmlMember, f *collectors.MemberFacts, now time.Time) {
	hm.Endpoint, hm.Up, hm.Reason, hm.Learner = redactEndpoint(f.Endpoint), f.Reachable, f.UnreachableReason, f.IsLearner
	if vf := f.Version; vf != nil {
		hm.Version = vf.Server
		if vf.Cluster != "" {
			hm.Version += " (cluster " + vf.Cluster
			if vf.Storage != "" {
				hm.Version += ", storage " + vf.Storage
			}
			hm.Version += ")"
		}
	}
	if s := f.Status; s != nil {
		hm.Leader = s.Leader != "" && s.Leader == f.ID
		hm.Raft = fmt.Sprintf("term %d, index %d, applied %d", s.RaftTerm, s.RaftIndex, s.RaftAppliedIndex)
		hm.DB = units.Bytes(s.DBSize) + " (in use " + units.Bytes(s.DBSizeInUse) + ")"
		for _, e := range s.Errors {
			hm.Errors = append(hm.Errors, "status: "+e)
		}
	}
	switch v2 := f.V2; {
	case v2 == nil:
	case !v2.Enabled:
		hm.V2 = "off"
	case !v2.Counted:
		hm.V2 = "on (not counted)"
	default:
		hm.V2 = fmt.Sprintf("on: %d keys, %d dirs, %d with TTL", v2.Keys, v2.Dirs, v2.TTLKeys)
		if v2.RegistryPresent {
			hm.V2 += fmt.Sprintf(", %d under /registry", v2.RegistryKeys)
		}
		hm.Samples = v2.SampleKeys
	}
	if v3 := f.V3; v3 != nil {
		hm.V3 = fmt.Sprintf("%d keys (%d registry) @ rev %d", v3.Keys, v3.RegistryKeys, v3.Revision)
	}
	if b := f.Backend; b != nil {
		hm.Backend = b.Observed
	}
	if s := f.Security; s != nil {
		hm.TLS = s.Scheme
		if s.TLSVersion != "" {
			hm.TLS += " " + s.TLSVersion
		}
		if s.CertNotAfter != nil {
			hm.TLS += fmt.Sprintf(", cert until %s (%d days)", s.CertNotAfter.UTC().Format("2006-01-02"),
				int(s.CertNotAfter.Sub(now).Hours()/24))
		}
		if s.ClientCertRequired != nil {
			hm.TLS += ", client cert " + map[bool]string{true: "required", false: "NOT required"}[*s.ClientCertRequired]
		}
		if s.AuthEnabled != nil {
			hm.TLS += ", auth " + map[bool]string{true: "on", false: "off"}[*s.AuthEnabled]
		}
	}
	for _, e := range f.Errors {
		hm.Errors = append(hm.Errors, e.Collector+": "+e.Error)
	}
}

func clusterFacts(f *collectors.ClusterFacts) []htmlKV {
	var kv []htmlKV
	add := func(k, v string) { kv = append(kv, htmlKV{k, v}) }
	if f.DeclaredBackend != "" {
		add("declared Kubernetes backend", f.DeclaredBackend)
	}
	observed := map[string]bool{}
	for _, m := range f.Members {
		if m.Backend != nil {
			observed[m.Backend.Observed] = true
		}
	}
	if len(observed) > 0 {
		add("observed backend", strings.Join(sortedSet(observed), ", "))
	}
	if len(f.Endpoints) > 0 {
		eps := make([]string, len(f.Endpoints))
		for i, e := range f.Endpoints {
			eps[i] = redactEndpoint(e)
		}
		add("endpoints", strings.Join(eps, " "))
	}
	if c := f.Consistency; c != nil {
		add("members", fmt.Sprintf("%d voting, %d learners, %d unstarted", c.VotingMembers, c.Learners, c.Unstarted))
		add("member lists agree", yesNo(c.MemberListsAgree))
		add("leaders", fmt.Sprintf("%s (agree: %s)", strings.Join(c.Leaders, ", "), yesNo(c.LeadersAgree)))
		add("raft index spread", fmt.Sprintf("%d (%d–%d); applied spread %d", c.RaftIndexSpread, c.RaftIndexMin, c.RaftIndexMax, c.AppliedSpread))
	}
	if h := f.HashKV; h != nil {
		add("HashKV", fmt.Sprintf("agree: %s at revision %d (%d members)", yesNo(h.Agree), h.Revision, h.MembersCompared))
	}
	if e := f.EventLeases; e != nil {
		s := fmt.Sprintf("%.1f%% of %d keys under %s leased (%d without a lease; %d leases; %s)",
			e.Ratio*100, e.Keys, e.Prefix, e.Unleased, e.Leases, e.Method)
		if len(e.SampleNoLease) > 0 {
			s += "; e.g. " + strings.Join(e.SampleNoLease, ", ")
		}
		add("events lease coverage", s)
	}
	return kv
}

func waiverRows(r *results.Report, now time.Time) []htmlWaiver {
	var out []htmlWaiver
	for _, res := range r.Results {
		wv, state := res.Waiver, "active"
		if res.ExpiredWaiver != nil && res.Status != results.Waived {
			wv, state = res.ExpiredWaiver, "expired"
		}
		if wv == nil {
			continue
		}
		subject := "fleet"
		switch {
		case res.Member != "":
			subject = res.Cluster + " / " + res.Member
		case res.Cluster != "":
			subject = res.Cluster
		}
		hw := htmlWaiver{Control: res.Control, Subject: subject, Justification: wv.Justification,
			Source: wv.Source, Expires: "never", State: state, Status: res.Status}
		if wv.Expires != nil {
			days := int(wv.Expires.Sub(now).Hours() / 24)
			hw.Expires = wv.Expires.UTC().Format("2006-01-02")
			switch {
			case state == "expired" || days < 0:
				hw.Expires += " (expired)"
			case days <= 14:
				hw.Expires += fmt.Sprintf(" (in %d days)", days)
				hw.State = "expiring soon"
			}
		}
		out = append(out, hw)
	}
	return out
}

// versionChart lays the bars out in Go so the SVG needs no script.
func versionChart(vs []versionCount) htmlChart {
	const barH, gap, labelW, maxW = 18, 6, 110, 420
	ch := htmlChart{Width: labelW + maxW + 60, Height: len(vs)*(barH+gap) + gap}
	top := 0
	for _, vc := range vs {
		top = max(top, vc.Members)
	}
	for i, vc := range vs {
		y := gap + i*(barH+gap)
		w := 2
		if top > 0 {
			w = max(2, vc.Members*maxW/top)
		}
		minor := -1
		if v, err := etcdversion.Parse(vc.Version); err == nil {
			minor = v.Minor % 8
		}
		ch.Bars = append(ch.Bars, htmlBar{Label: vc.Version, Count: vc.Members, Y: y, W: w,
			TextX: labelW + w + 6, Minor: minor, LabelY: y + 13, CountY: y + 13})
	}
	return ch
}

func clusterVersions(c clusterView) string {
	seen := map[string]bool{}
	for _, m := range c.Members {
		if m.Facts != nil && m.Facts.Version != nil && m.Facts.Version.Server != "" {
			seen[m.Facts.Version.Server] = true
		}
	}
	vs := sortedSet(seen)
	slices.SortFunc(vs, etcdversion.Compare)
	return strings.Join(vs, ", ")
}

func countsText(c results.Counts) string {
	var parts []string
	for _, s := range results.Statuses {
		if n := countOf(c, s); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

// redactEndpoint hides a password written into an endpoint URL
// (http://user:pass@host): a report is shared far more widely than the
// inventory it came from.
func redactEndpoint(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package policies

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// factCollectors maps a fact to the collectors that produce it, for finding
// the error or run record that explains a missing fact.
var factCollectors = map[string][]string{
	"member_list":  {"member_list", "memberlist", "members"},
	"v2":           {"v2", "v2count", "v2_count"},
	"v2_count":     {"v2_count", "v2count"},
	"event_leases": {"event_leases", "lease_coverage", "leases", "leasecoverage"},
	"hashkv":       {"hashkv", "hash_kv"},
}

func collectorsFor(fact string) []string {
	if c, ok := factCollectors[fact]; ok {
		return c
	}
	return []string{fact}
}

func memberHas(m *collectors.MemberFacts, fact string) bool {
	switch fact {
	case "version":
		return m.Version != nil
	case "status":
		return m.Status != nil
	case "health":
		return m.Health != nil
	case "alarms":
		return m.Alarms != nil
	case "member_list":
		return m.MemberList != nil
	case "v2":
		return m.V2 != nil
	case "v2_count":
		// Counted, or nothing to count: the API is off (or the server 3.6+).
		return m.V2 != nil && (m.V2.Counted || !m.V2.Enabled)
	case "v3":
		return m.V3 != nil
	case "backend":
		return m.Backend != nil
	case "security":
		return m.Security != nil
	}
	return false
}

func clusterHas(c *collectors.ClusterFacts, fact string) bool {
	switch fact {
	case "consistency":
		return c.Consistency != nil
	case "hashkv":
		return c.HashKV != nil
	case "event_leases":
		return c.EventLeases != nil
	}
	return false
}

// gap is why a subject lacks a fact a control needs; the zero gap means
// nothing is missing.
type gap struct {
	status results.Status
	msg    string
	// notCollected names the collector this run left out (its profile or
	// --collectors), when that is the reason.
	notCollected string
}

// explain says why fact is missing from a subject, from its recorded errors
// and collector runs: error when a collector failed or the subject could
// not be reached, skipped when the collector was not selected or the server
// has no such API.
func explain(fact string, errs []collectors.FactError, runs []collectors.CollectorRun, unreachable string, selected []string) gap {
	names := collectorsFor(fact)
	for _, e := range errs {
		if slices.Contains(names, e.Collector) {
			return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing: collector %s failed: %s", fact, e.Collector, e.Error)}
		}
	}
	for _, r := range runs {
		if !slices.Contains(names, r.Collector) {
			continue
		}
		switch r.State {
		case collectors.RunFailed:
			return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing: collector %s failed: %s", fact, r.Collector, r.Detail)}
		case collectors.RunUnsupported:
			return gap{status: results.Skipped, msg: fmt.Sprintf("fact %s not available: %s", fact, orDefault(r.Detail, "the server does not support it"))}
		case collectors.RunSkipped:
			if unreachable == "" {
				return gap{status: results.Skipped, msg: fmt.Sprintf("fact %s not collected: collector %s skipped: %s", fact, r.Collector, orDefault(r.Detail, "no reason given"))}
			}
		}
	}
	if unreachable != "" {
		return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing: %s", fact, unreachable)}
	}
	if len(selected) > 0 && !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(selected, n) }) {
		return gap{status: results.Skipped, notCollected: names[0],
			msg: fmt.Sprintf("fact %s not collected: collector %s not selected in this run (collectors: %s)", fact, names[0], strings.Join(selected, ", "))}
	}
	// Selected (or unknown selection) yet absent with no error recorded: the
	// collector misbehaved; never let that pass.
	return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing and no collector error recorded", fact)}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func memberUnreachable(m *collectors.MemberFacts) string {
	if m.Reachable {
		return ""
	}
	return "member unreachable: " + orDefault(m.UnreachableReason, "no reason recorded")
}

func missingMember(needs []string, m *collectors.MemberFacts, selected []string) gap {
	for _, n := range needs {
		if !memberHas(m, n) {
			return explain(n, m.Errors, m.Runs, memberUnreachable(m), selected)
		}
	}
	return gap{}
}

func missingCluster(needs []string, c *collectors.ClusterFacts, selected []string) gap {
	for _, n := range needs {
		if mf, ok := strings.CutPrefix(n, "members."); ok {
			if slices.ContainsFunc(c.Members, func(m collectors.MemberFacts) bool { return memberHas(&m, mf) }) {
				continue
			}
			if len(c.Members) == 0 {
				return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing: no member known (discovery: %s)", n, orDefault(c.DiscoveryErr, "no members listed"))}
			}
			// Report the first member's reason; every member lacks it.
			m := &c.Members[0]
			g := explain(mf, m.Errors, m.Runs, memberUnreachable(m), selected)
			g.msg = fmt.Sprintf("no member has fact %s (member %s: %s)", mf, MemberKey(m), g.msg)
			return g
		}
		if !clusterHas(c, n) {
			unreach := ""
			if c.DiscoveryErr != "" {
				unreach = "cluster discovery failed: " + c.DiscoveryErr
			}
			return explain(n, c.Errors, c.Runs, unreach, selected)
		}
	}
	return gap{}
}

func missingFleet(needs []string, f *collectors.Facts) gap {
	for _, n := range needs {
		mf, _ := strings.CutPrefix(n, "clusters.")
		found := false
		for i := range f.Clusters {
			if slices.ContainsFunc(f.Clusters[i].Members, func(m collectors.MemberFacts) bool { return memberHas(&m, mf) }) {
				found = true
				break
			}
		}
		if !found {
			return gap{status: results.Error, msg: fmt.Sprintf("fact %s missing on every member of every cluster", mf)}
		}
	}
	return gap{}
}

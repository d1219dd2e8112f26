package policies

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/regoeval"
	"github.com/etcdaudit/etcdaudit/results"
)

// Evaluate judges facts with every selected control: one evaluation per
// member, per cluster and for the fleet. Results come in fleet, then
// cluster, then member order, each by control id. An error is returned only
// when the tool cannot judge at all (nil facts, cancelled context); a
// broken or slow control makes its own results error.
func (e *Engine) Evaluate(ctx context.Context, facts *collectors.Facts) ([]results.Result, error) {
	if facts == nil {
		return nil, fmt.Errorf("evaluate: no facts")
	}
	// Every subject gets one result per control of its scope, so each
	// subject's results have a known place in out, written by whichever
	// worker judges it.
	nFleet, nCluster, nMember := len(e.scopes[results.ScopeFleet]), len(e.scopes[results.ScopeCluster]), len(e.scopes[results.ScopeMember])
	offsets := make([]int, len(facts.Clusters)+1)
	offsets[0] = nFleet
	for i := range facts.Clusters {
		offsets[i+1] = offsets[i] + nCluster + len(facts.Clusters[i].Members)*nMember
	}
	out := make([]results.Result, offsets[len(facts.Clusters)])
	err := e.eval.Evaluate(ctx, facts, func(s regoeval.Subject, vs []regoeval.Verdict) {
		switch {
		case s.Cluster < 0:
			for k, c := range e.scopes[results.ScopeFleet] {
				out[k] = judgeVerdict(c, vs[k], func(c *control) gap {
					return missingFleet(c.needs, facts)
				}, "", "")
			}
		case s.Member < 0:
			cf := &facts.Clusters[s.Cluster]
			for k, c := range e.scopes[results.ScopeCluster] {
				out[offsets[s.Cluster]+k] = judgeVerdict(c, vs[k], func(c *control) gap {
					return missingCluster(c.needs, cf, facts.Collectors)
				}, cf.Name, "")
			}
		default:
			cf := &facts.Clusters[s.Cluster]
			mf := &cf.Members[s.Member]
			key := MemberKey(mf)
			if key == "" {
				// No name, id or endpoint at all: still a distinct subject.
				key = fmt.Sprintf("member-%d", s.Member+1)
			}
			base := offsets[s.Cluster] + nCluster + s.Member*nMember
			for k, c := range e.scopes[results.ScopeMember] {
				out[base+k] = judgeVerdict(c, vs[k], func(c *control) gap {
					return missingMember(c.needs, mf, facts.Collectors)
				}, cf.Name, key)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MemberKey names a member in results (see collectors.MemberFacts.Label).
func MemberKey(m *collectors.MemberFacts) string { return m.Label() }

type missingFunc func(c *control) gap

// judgeVerdict judges one control's verdict. A deny is a failure even when
// some needed fact is missing (it judged on facts that exist); otherwise a
// missing fact makes the result error or skipped. Messages are copied: a
// memo group's verdict is shared by many members, and later stages
// (waivers) append to a result's messages.
func judgeVerdict(c *control, v regoeval.Verdict, missing missingFunc, cluster, member string) results.Result {
	r := results.Result{Control: c.ID, Cluster: cluster, Member: member}
	var m regoeval.MalformedError
	if errors.As(v.Err, &m) {
		r.Status, r.Messages = results.Error, []string{fmt.Sprintf("policy error in %s: %v", c.Package, m)}
		return r
	}
	if v.Err != nil {
		r.Status = results.Error
		r.Messages = []string{fmt.Sprintf("policy error in %s (%s): %v", c.Package, c.Source, v.Err)}
		return r
	}
	if len(v.Deny) > 0 {
		r.Status, r.Messages = results.Failed, slices.Clone(v.Deny)
		return r
	}
	if g := missing(c); g.status != "" {
		r.Status, r.Messages, r.NotCollected = g.status, []string{g.msg}, g.notCollected
		return r
	}
	if len(v.Skip) > 0 {
		r.Status, r.Messages = results.Skipped, slices.Clone(v.Skip)
		return r
	}
	r.Status = results.Passed
	return r
}

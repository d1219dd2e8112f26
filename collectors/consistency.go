package collectors

import (
	"context"
	"reflect"
	"slices"
)

func consistencyCollector() Registration {
	return Registration{
		Name:      "consistency",
		Scope:     ScopeCluster,
		Help:      "whether members agree on the member list and the leader, and the spread of their raft and applied indexes",
		Collector: CollectorFunc(collectConsistency),
	}
}

// collectConsistency compares what the member collectors gathered; it asks
// the cluster nothing. Members without a status (unreachable, or status
// failed) are not compared, and MembersCompared says how many were.
func collectConsistency(_ context.Context, t *Target) error {
	c := &Consistency{MemberListsAgree: true, LeadersAgree: true, Leaders: []string{}}
	var lists []*MemberListFacts
	leaders := map[string]bool{}
	first := true
	for _, m := range t.Cluster.Facts.Members {
		switch {
		case !m.Started:
			c.Unstarted++
		case m.IsLearner:
			c.Learners++
		default:
			c.VotingMembers++
		}
		if m.MemberList != nil {
			lists = append(lists, m.MemberList)
		}
		st := m.Status
		if st == nil {
			continue
		}
		c.MembersCompared++
		leaders[st.Leader] = true
		if first {
			c.RaftIndexMin, c.RaftIndexMax = st.RaftIndex, st.RaftIndex
			c.AppliedIndexMin, c.AppliedIndexMax = st.RaftAppliedIndex, st.RaftAppliedIndex
			first = false
			continue
		}
		c.RaftIndexMin, c.RaftIndexMax = min(c.RaftIndexMin, st.RaftIndex), max(c.RaftIndexMax, st.RaftIndex)
		c.AppliedIndexMin = min(c.AppliedIndexMin, st.RaftAppliedIndex)
		c.AppliedIndexMax = max(c.AppliedIndexMax, st.RaftAppliedIndex)
	}
	if c.MembersCompared == 0 && len(lists) == 0 {
		return needFact(t, "status", "status", "member_list")
	}
	for l := range leaders {
		c.Leaders = append(c.Leaders, l)
	}
	slices.Sort(c.Leaders)
	c.LeadersAgree = len(c.Leaders) <= 1 && !slices.Contains(c.Leaders, "0")
	for _, l := range lists[min(1, len(lists)):] {
		if !reflect.DeepEqual(l.Members, lists[0].Members) {
			c.MemberListsAgree = false
		}
	}
	c.RaftIndexSpread = c.RaftIndexMax - c.RaftIndexMin
	c.AppliedSpread = c.AppliedIndexMax - c.AppliedIndexMin
	t.Cluster.Facts.Consistency = c
	return nil
}

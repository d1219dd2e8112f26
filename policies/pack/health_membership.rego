# METADATA
# title: Member lists agree, no unstarted members or stray learners
# description: >-
#   Every member reports the same member list; no member was added but
#   never started (it counts toward quorum without voting); no learner is
#   left unpromoted.
# custom:
#   id: ETCD-HEALTH-006
#   impact: 0.8
#   scope: cluster
#   tags: [health, membership]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/runtime-configuration/", "https://etcd.io/docs/v3.5/learning/design-learner/"]
#   needs: [consistency]
package etcdaudit.controls.health.membership

c := input.cluster.consistency

deny contains "members report different member lists: a membership change did not reach every member" if {
	c.member_lists_agree == false
}

deny contains msg if {
	c.unstarted > 0
	who := [ident(m) | some m in input.cluster.members; not m.started]
	msg := sprintf("%d member(s) added but never started (%s): they count toward quorum; start them or `etcdctl member remove` them", [c.unstarted, concat(", ", who)])
}

deny contains msg if {
	c.learners > 0
	who := [ident(m) | some m in input.cluster.members; m.is_learner]
	msg := sprintf("%d learner(s) not promoted (%s): `etcdctl member promote` once caught up, or remove", [c.learners, concat(", ", who)])
}

ident(m) := m.name if {
	m.name != ""
} else := m.id if {
	m.id != ""
} else := m.endpoint

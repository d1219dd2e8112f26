# METADATA
# title: One leader all members agree on
# description: >-
#   Every member that answered names the same leader, and it is not "none".
#   No leader means no writes; two leaders named means a partition or a
#   member stuck in an old term.
# custom:
#   id: ETCD-HEALTH-003
#   impact: 1.0
#   scope: cluster
#   tags: [health, consistency]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/failures/"]
#   needs: [consistency]
package etcdaudit.controls.health.leader

c := input.cluster.consistency

deny contains msg if {
	c.members_compared > 0
	some l in c.leaders
	l == "0"
	msg := sprintf("a member reports no leader (%d members compared): the cluster has lost quorum or is electing", [c.members_compared])
}

deny contains msg if {
	ls := [l | some l in c.leaders; l != "0"]
	count(ls) > 1
	msg := sprintf("members name %d different leaders (%s): a partition or a member stuck in an old term", [count(ls), concat(", ", ls)])
}

deny contains msg if {
	c.members_compared == 0
	msg := "no member answered Status: no leader seen"
}

# METADATA
# title: Member reachable and healthy
# description: >-
#   The member answers on its client endpoint and is healthy the way etcd
#   judges it (a leader, no alarm, a linearizable read within the deadline),
#   measured without GET /health, which writes a raft entry on 3.4 and on
#   3.5 with --enable-v2.
# custom:
#   id: ETCD-HEALTH-001
#   impact: 1.0
#   scope: member
#   tags: [health]
#   refs: ["https://etcd.io/docs/v3.5/op-guide/monitoring/"]
#   needs: [health]
package etcdaudit.controls.health.member

deny contains msg if {
	not input.member.reachable
	msg := sprintf("member unreachable at %s: %s", [input.member.endpoint, object.get(input.member, "unreachable_reason", "no reason recorded")])
}

deny contains msg if {
	input.member.reachable
	h := input.member.health
	h.healthy == false
	msg := sprintf("member unhealthy: %s", [object.get(h, "reason", "no reason given")])
}

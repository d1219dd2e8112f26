# METADATA
# title: No active alarms
# description: >-
#   No member reports an active alarm. NOSPACE makes the cluster refuse
#   writes; CORRUPT means a member's data diverged.
# custom:
#   id: ETCD-HEALTH-002
#   impact: 1.0
#   scope: cluster
#   tags: [health, corruption]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/maintenance/#space-quota", "https://etcd.io/docs/v3.5/op-guide/data_corruption/"]
#   needs: [members.alarms]
package etcdaudit.controls.health.alarms

names[m.id] := m.name if some m in input.cluster.members

alarms contains [a.alarm, a.member_id] if {
	some m in input.cluster.members
	some a in m.alarms.alarms
}

deny contains msg if {
	some [alarm, id] in alarms
	msg := sprintf("alarm %s active on member %s: %s", [alarm, object.get(names, id, id), advice(alarm)])
}

advice("NOSPACE") := "the cluster accepts only reads and deletes; compact, defragment each member, raise --quota-backend-bytes if needed, then `etcdctl alarm disarm`"

advice("CORRUPT") := "a member's data diverged; stop writes, find the odd member with `etcdctl endpoint hashkv --cluster`, replace it from a healthy snapshot"

advice(a) := "see the etcd maintenance guide, then `etcdctl alarm disarm`" if not a in {"NOSPACE", "CORRUPT"}

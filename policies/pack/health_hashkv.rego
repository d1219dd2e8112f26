# METADATA
# title: HashKV agreement
# description: >-
#   Every member's KV hash at one common revision is the same. Different
#   hashes mean divergent data (the 3.5.0–3.5.2 inconsistency, or a bad
#   migration).
# custom:
#   id: ETCD-HEALTH-005
#   impact: 1.0
#   scope: cluster
#   tags: [health, consistency, corruption]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/data_corruption/"]
#   needs: [hashkv]
package etcdaudit.controls.health.hashkv

h := input.cluster.hashkv

deny contains msg if {
	h.members_compared > 1
	not h.agree
	pairs := [sprintf("%s=%d", [n, x]) | some n, x in h.hashes]
	msg := sprintf("members disagree on the KV hash at revision %d (compact revision %d): %s; find the odd member and replace it from a healthy one", [h.revision, h.compact_revision, concat(", ", pairs)])
}

skip contains msg if {
	h.members_compared < 2
	count(input.cluster.members) > 1
	msg := sprintf("HashKV compared on %d member(s) only: agreement not checked", [h.members_compared])
}

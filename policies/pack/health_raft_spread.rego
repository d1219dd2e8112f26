# METADATA
# title: Raft applied index spread within bounds
# description: >-
#   Members' raft applied indexes are within
#   data.etcdaudit.baseline.raft_index_spread_max of each other. A lasting
#   spread means a member lags (slow disk, network) and a migration or an
#   upgrade must wait until they converge.
# custom:
#   id: ETCD-HEALTH-004
#   impact: 0.6
#   scope: cluster
#   tags: [health, consistency]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.4/op-guide/v2-migration/", "https://etcd.io/docs/v3.5/op-guide/monitoring/"]
#   needs: [consistency]
package etcdaudit.controls.health.raft_spread

c := input.cluster.consistency

deny contains msg if {
	c.members_compared > 1
	maxspread := data.etcdaudit.baseline.raft_index_spread_max
	c.applied_index_spread > maxspread
	msg := sprintf("raft applied index spread %d (from %d to %d over %d members) exceeds %d: a member lags behind the leader", [c.applied_index_spread, c.applied_index_min, c.applied_index_max, c.members_compared, maxspread])
}

skip contains msg if {
	c.members_compared < 2
	c.voting_members > 1
	msg := sprintf("only %d of %d voting members answered Status: no spread to compare", [c.members_compared, c.voting_members])
}

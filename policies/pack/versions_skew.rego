# METADATA
# title: Members within one minor version of each other
# description: >-
#   etcd supports mixed versions only during a rolling upgrade of one minor
#   (3.4 -> 3.5, 2.3 -> 3.0). Members further apart mean a minor was skipped
#   or an upgrade went wrong; the cluster runs at the lowest member's version.
# custom:
#   id: ETCD-VER-003
#   impact: 0.8
#   scope: cluster
#   tags: [versions, upgrade]
#   remediation: upgrade
#   refs: ["https://etcd.io/docs/v3.5/upgrades/upgrade_3_5/"]
#   needs: [members.version]
package etcdaudit.controls.versions.skew

import data.etcdaudit.lib.versions

member_lines[m.name] := versions.line(m.version.server) if {
	some m in input.cluster.members
	m.version.server
}

deny contains msg if {
	some a, la in member_lines
	some b, lb in member_lines
	versions.hops(la, lb) > 1
	versions.line_index(la) < versions.line_index(lb)
	msg := sprintf("members %s (%s) and %s (%s) are %d minor versions apart: upgrade one minor at a time, bringing %s to %s first", [a, la, b, lb, versions.hops(la, lb), a, data.etcdaudit.upgrade.hops[la].to])
}

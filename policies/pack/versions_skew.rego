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

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.versions

# Distinct lines first (usually one or two), so the pairwise check does not
# grow with the square of the member count.
lines := {versions.line(m.version.server) | some m in input.cluster.members; m.version.server}

on_line(l) := concat(", ", sort([m.name | some m in input.cluster.members; m.version.server; versions.line(m.version.server) == l]))

deny contains msg if {
	some la in lines
	some lb in lines
	versions.line_index(la) < versions.line_index(lb)
	h := versions.hops(la, lb)
	h > 1
	msg := sprintf("members on %s (%s) and on %s (%s) are %d minor versions apart: upgrade one minor at a time, bringing the %s members to %s first%s", [la, on_line(la), lb, on_line(lb), h, la, data.etcdaudit.upgrade.hops[la].to, remediate.hint("upgrade")])
}

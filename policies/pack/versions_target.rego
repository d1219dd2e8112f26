# METADATA
# title: etcd at the baseline's target version
# description: >-
#   The member runs the baseline's target release (data.etcdaudit.baseline.target,
#   the newest the pack knows unless --data changes it) or newer. A member
#   behind gets its upgrade path: one minor at a time, with the
#   preconditions of the next hop (v2 data, snapshot traps).
# custom:
#   id: ETCD-VER-002
#   impact: 0.5
#   scope: member
#   tags: [versions, upgrade]
#   remediation: upgrade
#   refs: ["https://etcd.io/docs/v3.6/upgrades/", "https://etcd.io/docs/v3.5/upgrades/upgrade_3_5/"]
#   needs: [version]
package etcdaudit.controls.versions.target

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.upgrade
import data.etcdaudit.lib.versions

deny contains msg if {
	v := input.member.version.server
	target := data.etcdaudit.baseline.target
	versions.compare(v, target) < 0
	msg := sprintf("etcd %s is behind the target %s: %s%s", [v, target, upgrade.describe(v, target), remediate.hint("upgrade")])
}

skip contains msg if {
	v := input.member.version.server
	not versions.valid(v)
	msg := sprintf("server version %q is not a semantic version; cannot compare it with the target %s", [v, data.etcdaudit.baseline.target])
}

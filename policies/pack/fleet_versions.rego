# METADATA
# title: Every cluster within one minor of the fleet's target
# description: >-
#   Each cluster's lowest member version is on the target's minor line or
#   one hop below it on the upgrade path. Clusters further behind are where
#   the next fleet upgrade will hurt (the seed: 2.2 clusters facing 3.2).
# custom:
#   id: ETCD-FLEET-001
#   impact: 0.6
#   scope: fleet
#   tags: [versions, upgrade, fleet]
#   remediation: upgrade
#   refs: ["https://etcd.io/docs/v3.6/upgrades/"]
#   needs: [clusters.version]
package etcdaudit.controls.fleet.versions

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.upgrade
import data.etcdaudit.lib.versions

target := data.etcdaudit.baseline.target

lowest[c.name] := v if {
	some c in input.fleet.clusters
	v := versions.lowest([m.version.server | some m in c.members; m.version.server])
}

deny contains msg if {
	some name, v in lowest
	h := versions.hops(versions.line(v), versions.line(target))
	h > 1
	versions.compare(v, target) < 0
	msg := sprintf("cluster %s: lowest member runs %s, %d minor versions behind the target %s: %s%s", [name, v, h, target, upgrade.describe(v, target), remediate.hint("upgrade")])
}

unknown contains c.name if {
	some c in input.fleet.clusters
	not lowest[c.name]
}

skip contains msg if {
	count(unknown) > 0
	count(deny) == 0
	msg := sprintf("no member version known for cluster(s) %s", [concat(", ", sort(unknown))])
}

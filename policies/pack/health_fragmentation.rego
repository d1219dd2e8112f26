# METADATA
# title: Database fragmentation below threshold
# description: >-
#   The share of the db file not in use (1 - dbSizeInUse/dbSize) stays below
#   data.etcdaudit.baseline.fragmentation_max for files of at least
#   fragmentation_min_db_bytes. Compaction frees pages but only
#   defragmentation gives the space back; a fragmented file counts toward
#   the quota.
# custom:
#   id: ETCD-HEALTH-009
#   impact: 0.3
#   scope: member
#   tags: [health, capacity]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/maintenance/#defragmentation"]
#   needs: [version, status]
package etcdaudit.controls.health.fragmentation

import data.etcdaudit.lib.ratio
import data.etcdaudit.lib.versions

# A server before 3.4 reports in-use 0: its fragmentation is unknown.
reports_in_use if semver.compare(input.member.version.server, "3.4.0") >= 0

# The share not in use, (db_size - in_use) / db_size, above
# fragmentation_max, exact at the boundary.
deny contains msg if {
	reports_in_use
	status := input.member.status
	status.db_size >= data.etcdaudit.baseline.fragmentation_min_db_bytes
	ratio.exceeds(status.db_size - status.db_size_in_use, status.db_size, data.etcdaudit.baseline.fragmentation_max)
	msg := sprintf("db file %s MiB, %s MiB in use: %s%% fragmented (above %s%%); run `etcdctl defrag` on this member (one member at a time, it blocks reads and writes while it runs)", [versions.num(status.db_size / 1048576), versions.num(status.db_size_in_use / 1048576), versions.num((1 - (status.db_size_in_use / status.db_size)) * 100), versions.num(data.etcdaudit.baseline.fragmentation_max * 100)])
}

skip contains msg if {
	not reports_in_use
	msg := sprintf("etcd %s does not report dbSizeInUse (added in 3.4): fragmentation unknown", [input.member.version.server])
}

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

import data.etcdaudit.lib.versions

# This control runs for every member: the cheap size test comes first, the
# baseline is read once, and no helper rule sits on the path of a passing
# member (README, Performance).

reports_in_use if semver.compare(input.member.version.server, "3.4.0") >= 0

deny contains msg if {
	status := input.member.status
	baseline := data.etcdaudit.baseline
	status.db_size >= baseline.fragmentation_min_db_bytes
	reports_in_use
	frag := 1 - (status.db_size_in_use / status.db_size)
	frag > baseline.fragmentation_max
	msg := sprintf("db file %s MiB, %s MiB in use: %s%% fragmented (above %s%%); run `etcdctl defrag` on this member (one member at a time, it blocks reads and writes while it runs)", [versions.num(status.db_size / 1048576), versions.num(status.db_size_in_use / 1048576), versions.num(frag * 100), versions.num(baseline.fragmentation_max * 100)])
}

skip contains msg if {
	not reports_in_use
	msg := sprintf("etcd %s does not report dbSizeInUse (added in 3.4): fragmentation unknown", [input.member.version.server])
}

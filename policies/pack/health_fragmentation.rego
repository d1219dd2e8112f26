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

# This control runs for every member: the cheap size test comes first, and
# the version test (a rule lookup) last, so only a member that looks
# fragmented pays for it; a server before 3.4 reports in-use 0, which looks
# fragmented and is then let go (docs/performance.md).

reports_in_use if semver.compare(input.member.version.server, "3.4.0") >= 0

# keep is [d - n, d] for fragmentation_max = n/d: with size > 0,
# 1 - in_use/size > n/d <=> in_use*d < (d - n)*size, two integer
# multiplications and an integer comparison instead of a division, a
# subtraction and an exact rational comparison for every member. It reads the baseline only, so it is worked out once. A
# threshold that is not a plain decimal (exponent form) falls back to
# OPA's arithmetic: [1 - max, 1], the same test.
keep := [d - n, d] if {
	[n, d] := ratio.scale(data.etcdaudit.baseline.fragmentation_max)
} else := [1 - data.etcdaudit.baseline.fragmentation_max, 1]

deny contains msg if {
	status := input.member.status
	status.db_size >= data.etcdaudit.baseline.fragmentation_min_db_bytes
	status.db_size > 0
	[k, d] := keep
	status.db_size_in_use * d < k * status.db_size
	reports_in_use
	msg := message(status)
}

message(status) := sprintf("db file %s MiB, %s MiB in use: %s%% fragmented (above %s%%); run `etcdctl defrag` on this member (one member at a time, it blocks reads and writes while it runs)", [versions.num(status.db_size / 1048576), versions.num(status.db_size_in_use / 1048576), versions.num((1 - (status.db_size_in_use / status.db_size)) * 100), versions.num(data.etcdaudit.baseline.fragmentation_max * 100)])

skip contains msg if {
	not reports_in_use
	msg := sprintf("etcd %s does not report dbSizeInUse (added in 3.4): fragmentation unknown", [input.member.version.server])
}

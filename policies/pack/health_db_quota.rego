# METADATA
# title: Database size below the quota threshold
# description: >-
#   The backend db file stays below data.etcdaudit.baseline.db_quota_ratio_max
#   of the quota (the server's dbSizeQuota from 3.6, else the default 2 GiB
#   or the baseline's db_quota_default_bytes). At the quota etcd raises
#   NOSPACE and refuses writes.
# custom:
#   id: ETCD-HEALTH-008
#   impact: 0.8
#   scope: member
#   tags: [health, capacity]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/maintenance/#space-quota"]
#   needs: [status]
package etcdaudit.controls.health.db_quota

import data.etcdaudit.lib.ratio
import data.etcdaudit.lib.versions

quota := input.member.status.db_size_quota if {
	input.member.status.db_size_quota > 0
} else := data.etcdaudit.baseline.db_quota_default_bytes

quota_src := "reported by the server" if {
	input.member.status.db_size_quota > 0
} else := "default; the server does not report it before 3.6"

# db_size / quota > db_quota_ratio_max, exact at the boundary.
deny contains msg if {
	status := input.member.status
	ratio.exceeds(status.db_size, quota, data.etcdaudit.baseline.db_quota_ratio_max)
	msg := sprintf("db size %s MiB is %s%% of the %s MiB quota (%s), above %s%%: compact and defragment, or raise --quota-backend-bytes before NOSPACE", [versions.num(status.db_size / 1048576), versions.num((status.db_size / quota) * 100), versions.num(quota / 1048576), quota_src, versions.num(data.etcdaudit.baseline.db_quota_ratio_max * 100)])
}

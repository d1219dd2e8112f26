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

# This control runs for every member: a passing member pays one input
# read, one rule reference (limit, worked out once per distinct quota) and
# one integer comparison; each further rule reference would cost the
# evaluator a rule-index and a cache lookup (docs/performance.md).

quota := input.member.status.db_size_quota if {
	input.member.status.db_size_quota > 0
} else := data.etcdaudit.baseline.db_quota_default_bytes

quota_src := "reported by the server" if {
	input.member.status.db_size_quota > 0
} else := "default; the server does not report it before 3.6"

# limit is the largest whole db size at or below db_quota_ratio_max of the
# quota, in exact integers: the db size is a whole number of bytes, so
# size/quota > max <=> size*d > n*quota (max = n/d, quota > 0) <=> size >
# floor(n*quota/d). It depends on the quota and the baseline only, so it is
# worked out once per distinct quota (docs/performance.md) and a passing
# member pays one integer comparison instead of a division and an exact
# rational comparison. A threshold that is not a plain decimal (exponent
# form) falls back to OPA's arithmetic, max*quota, the same test; a quota
# that is not positive (a bad --data file) judges nothing, as the division
# by zero did before.
limit := ratio.floor_div(n * quota, d) if {
	quota > 0
	[n, d] := ratio.scale(data.etcdaudit.baseline.db_quota_ratio_max)
} else := data.etcdaudit.baseline.db_quota_ratio_max * quota if quota > 0

deny contains msg if {
	status := input.member.status
	status.db_size > limit
	msg := message(status)
}

message(status) := sprintf("db size %s MiB is %s%% of the %s MiB quota (%s), above %s%%: compact and defragment, or raise --quota-backend-bytes before NOSPACE", [versions.num(status.db_size / 1048576), versions.num((status.db_size / quota) * 100), versions.num(quota / 1048576), quota_src, versions.num(data.etcdaudit.baseline.db_quota_ratio_max * 100)])

package etcdaudit.controls.health.db_quota_test

import data.etcdaudit.controls.health.db_quota as c

st(size, quota) := {"member": {"status": {"db_size": size, "db_size_in_use": size, "db_size_quota": quota}}}

test_pass_small if count(c.deny) == 0 with input as st(104857600, 0)

test_fail_default_quota if {
	some msg in c.deny with input as st(1932735283, 0)
	contains(msg, "of the 2048 MiB quota (default")
}

test_fail_reported_quota if {
	some msg in c.deny with input as st(900 * 1048576, 1024 * 1048576)
	contains(msg, "87.9% of the 1024 MiB quota (reported by the server)")
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

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

# Boundaries: exactly at the threshold passes, one byte above fails.
test_boundary_reported_quota if {
	count(c.deny) == 0 with input as st(800, 1000)
	count(c.deny) == 1 with input as st(801, 1000)
}

# 0.8 * 2 GiB = 1717986918.4 bytes.
test_boundary_default_quota if {
	count(c.deny) == 0 with input as st(1717986918, 0)
	count(c.deny) == 1 with input as st(1717986919, 0)
}

test_missing_quota_uses_default if {
	some msg in c.deny with input as {"member": {"status": {"db_size": 1717986919}}}
	contains(msg, "of the 2048 MiB quota (default")
	count(c.deny) == 0 with input as {"member": {"status": {"db_size": 1717986918}}}
}

test_threshold_with_more_digits if {
	count(c.deny) == 0 with input as st(950, 1000) with data.etcdaudit.baseline.db_quota_ratio_max as 0.95
	count(c.deny) == 1 with input as st(951, 1000) with data.etcdaudit.baseline.db_quota_ratio_max as 0.95
}

# A threshold in exponent form falls back to OPA's arithmetic: same verdicts.
test_exponent_threshold_falls_back if {
	count(c.deny) == 0 with input as st(800, 1000) with data.etcdaudit.baseline.db_quota_ratio_max as 8e-1
	count(c.deny) == 1 with input as st(801, 1000) with data.etcdaudit.baseline.db_quota_ratio_max as 8e-1
}

# A zero default quota (a bad --data file) judges nothing rather than
# failing every member or dividing by zero.
test_zero_quota_yields_nothing if {
	count(c.deny) == 0 with input as st(801, 0) with data.etcdaudit.baseline.db_quota_default_bytes as 0
}

test_empty_db_passes if count(c.deny) == 0 with input as st(0, 0)

# Through the fallback, 0.8 * 1001 = 800.8 bytes.
test_exponent_threshold_fractional_limit if {
	count(c.deny) == 0 with input as st(800, 1001) with data.etcdaudit.baseline.db_quota_ratio_max as 8e-1
	count(c.deny) == 1 with input as st(801, 1001) with data.etcdaudit.baseline.db_quota_ratio_max as 8e-1
}

package etcdaudit.controls.health.fragmentation_test

import data.etcdaudit.controls.health.fragmentation as c

st(v, size, inuse) := {"member": {"version": {"server": v}, "status": {"db_size": size, "db_size_in_use": inuse}}}

mib := 1048576

test_pass_compact if count(c.deny) == 0 with input as st("3.5.35", 500 * mib, 400 * mib)

test_pass_small_file if count(c.deny) == 0 with input as st("3.5.35", 20 * mib, 1 * mib)

test_fail_fragmented if {
	some msg in c.deny with input as st("3.5.35", 1000 * mib, 200 * mib)
	contains(msg, "80% fragmented")
}

test_skip_before_3_4 if {
	count(c.skip) == 1 with input as st("3.3.27", 1000 * mib, 0)
	count(c.deny) == 0 with input as st("3.3.27", 1000 * mib, 0)
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {"version": {"server": "3.5.35"}}}

# Boundaries: exactly 50% fragmented passes, one byte more fails.
test_boundary_exactly_at_threshold if {
	count(c.deny) == 0 with input as st("3.5.35", 200 * mib, 100 * mib)
	some msg in c.deny with input as st("3.5.35", 200 * mib, (100 * mib) - 1)
	contains(msg, "50% fragmented")
}

test_boundary_min_size if {
	count(c.deny) == 1 with input as st("3.5.35", 100 * mib, 0)
	count(c.deny) == 0 with input as st("3.5.35", (100 * mib) - 1, 0)
}

test_threshold_with_more_digits if {
	count(c.deny) == 0 with input as st("3.5.35", 1000, 750) with data.etcdaudit.baseline.fragmentation_max as 0.25 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
	count(c.deny) == 1 with input as st("3.5.35", 1000, 749) with data.etcdaudit.baseline.fragmentation_max as 0.25 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
}

# 4% not in use is exactly at a 0.04 threshold, though 1 - 960/1000 > 0.04
# holds in OPA's arithmetic.
test_boundary_inexact_share if {
	count(c.deny) == 0 with input as st("3.5.35", 1000, 960) with data.etcdaudit.baseline.fragmentation_max as 0.04 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
	count(c.deny) == 1 with input as st("3.5.35", 1000, 959) with data.etcdaudit.baseline.fragmentation_max as 0.04 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
}

test_zero_threshold if {
	count(c.deny) == 0 with input as st("3.5.35", 1000, 1000) with data.etcdaudit.baseline.fragmentation_max as 0 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
	count(c.deny) == 1 with input as st("3.5.35", 1000, 999) with data.etcdaudit.baseline.fragmentation_max as 0 with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
}

# A zero-sized file (possible only with fragmentation_min_db_bytes 0) is
# not fragmented and is no division by zero.
test_zero_size_yields_nothing if {
	count(c.deny) == 0 with input as st("3.5.35", 0, 0) with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0
	count(c.deny) == 0 with input as st("3.5.35", 0, 0) with data.etcdaudit.baseline.fragmentation_min_db_bytes as 0 with data.etcdaudit.baseline.fragmentation_max as 5e-1
}

# A threshold in exponent form falls back to OPA's arithmetic: same verdicts.
test_exponent_threshold_falls_back if {
	count(c.deny) == 0 with input as st("3.5.35", 200 * mib, 100 * mib) with data.etcdaudit.baseline.fragmentation_max as 5e-1
	count(c.deny) == 1 with input as st("3.5.35", 200 * mib, (100 * mib) - 1) with data.etcdaudit.baseline.fragmentation_max as 5e-1
}

test_missing_in_use_yields_nothing if count(c.deny) == 0 with input as {"member": {"version": {"server": "3.5.35"}, "status": {"db_size": 1000 * mib}}}

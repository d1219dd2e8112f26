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

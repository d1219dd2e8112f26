package etcdaudit.controls.versions.maintained_test

import data.etcdaudit.controls.versions.maintained as c

member(v) := {"member": {"name": "m1", "version": {"server": v}}}

test_pass_maintained if count(c.deny) == 0 with input as member("3.5.35")

test_fail_3_4 if {
	some m in c.deny with input as member("3.4.23")
	contains(m, "line 3.4 no longer receives fixes")
	contains(m, "maintained: 3.5, 3.6, 3.7")
}

test_fail_2_2 if count(c.deny) == 1 with input as member("2.2.5")

test_skip_garbage if count(c.skip) == 1 with input as member("banana")

test_missing_version_yields_nothing if {
	count(c.deny) == 0 with input as {"member": {}}
	count(c.skip) == 0 with input as {"member": {}}
}

test_skip_newer_than_known if {
	count(c.deny) == 0 with input as member("3.9.0")
	some msg in c.skip with input as member("3.9.0")
	contains(msg, "newer than every line this pack knows")
}

test_fail_names_the_upgrade_command if {
	some m in c.deny with input as member("3.4.23")
	endswith(m, "(`etcdaudit remediate plan --actions upgrade` plans it)")
}

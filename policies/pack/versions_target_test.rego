package etcdaudit.controls.versions.target_test

import data.etcdaudit.controls.versions.target as c

member(v) := {"member": {"name": "m1", "version": {"server": v}}}

test_pass_at_target if count(c.deny) == 0 with input as member("3.7.3")

test_pass_above_target if count(c.deny) == 0 with input as member("3.7.10")

test_fail_patch_behind if {
	some m in c.deny with input as member("3.7.0")
	contains(m, "patch upgrade within 3.7")
}

test_fail_gives_next_hops if {
	some m in c.deny with input as member("3.4.23")
	contains(m, "upgrade path 3.4 -> 3.5 -> 3.6 -> 3.7")
	contains(m, "next hop 3.4 -> 3.5 (install 3.5.33)")
}

test_fail_3_5_names_snapshot_trap if {
	some m in c.deny with input as member("3.5.35")
	contains(m, "next hop 3.5 -> 3.6")
	contains(m, "snapshot-count=5")
	contains(m, "detected disallowed v2 WAL")
}

test_fail_3_6_names_3_7_trap if {
	some m in c.deny with input as member("3.6.16")
	contains(m, "written by 3.6")
}

test_fail_2_2_names_migration_point if {
	some m in c.deny with input as member("2.2.5")
	contains(m, "next hop 2.2 -> 2.3")
	contains(m, "must happen on 3.0 or 3.1, before 3.2")
}

test_target_from_data if {
	count(c.deny) == 0 with input as member("3.6.16") with data.etcdaudit.baseline.target as "3.6.16"
}

test_unknown_line_still_denies if {
	some m in c.deny with input as member("3.7.3") with data.etcdaudit.baseline.target as "3.8.0"
	contains(m, "no upgrade path known")
}

test_skip_unparseable if count(c.skip) == 1 with input as member("3.x")

test_missing_version_yields_nothing if {
	count(c.deny) == 0 with input as {"member": {"name": "m1"}}
	count(c.skip) == 0 with input as {"member": {"name": "m1"}}
}

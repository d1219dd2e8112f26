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

upgrade_hint := "(`etcdaudit remediate plan --actions upgrade` plans it)"

test_fail_names_the_upgrade_command if {
	some m in c.deny with input as member("3.4.23")
	endswith(m, upgrade_hint)
}

# A release candidate is behind its release and on its line.
test_fail_release_candidate_is_a_patch_upgrade if {
	some m in c.deny with input as member("3.7.0-rc.1")
	contains(m, "patch upgrade within 3.7: replace the binary with 3.7.3")
}

# Each hop names only steps that exist on the line it leaves.
test_fail_3_4_hop_migrates_while_etcdctl_migrate_exists if {
	some m in c.deny with input as member("3.4.23")
	contains(m, "`etcdctl migrate` is gone in 3.5: migrate any remaining v2 data now")
	contains(m, "auth")
}

test_fail_3_5_hop_names_no_etcdctl_migrate if {
	some m in c.deny with input as member("3.5.35")
	not contains(m, "etcdctl migrate")
	contains(m, "`etcdutl check v2store`")
}

test_fail_3_6_hop_names_no_enable_v2 if {
	some m in c.deny with input as member("3.6.16")
	not contains(m, "--enable-v2")
	not contains(m, "etcdctl migrate")
}

test_fail_2_2_migration_point_names_the_tool_of_3_0 if {
	some m in c.deny with input as member("2.2.5")
	contains(m, "etcdctl migrate (offline, 3.0–3.4)")
	not contains(m, "seed")
}

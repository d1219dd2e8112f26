package etcdaudit.controls.versions.known_bad_test

import data.etcdaudit.controls.versions.known_bad as c

member(v) := {"member": {"name": "m1", "version": {"server": v}}}

test_pass_current if {
	count(c.deny) == 0 with input as member("3.5.35")
	count(c.skip) == 0 with input as member("3.5.35")
}

test_pass_boundary_fixed_release if {
	count(c.deny) == 0 with input as member("3.7.1")
}

test_fail_names_issue_and_fix if {
	msgs := c.deny with input as member("3.4.23")
	some m in msgs
	contains(m, "etcd#16740")
	contains(m, "fixed in 3.4.28")
	startswith(m, "etcd 3.4.23 ")
}

test_fail_semantic_not_lexical if {
	# 3.4.10 > 3.4.9 semantically: CVE-2020 fixed in 3.4.10 must not fire.
	msgs := c.deny with input as member("3.4.10")
	not any_contains(msgs, "CVE-2020-15106")
	msgs9 := c.deny with input as member("3.4.9")
	any_contains(msgs9, "CVE-2020-15106")
}

test_fail_wal_crc_3_0 if {
	msgs := c.deny with input as member("3.0.6")
	any_contains(msgs, "etcd#6267")
	not any_contains(c.deny, "etcd#6267") with input as member("3.0.7")
}

test_fail_fix_on_a_later_line if {
	some m in c.deny with input as member("3.1.20")
	contains(m, "fixed in 3.2.29 (no fix on the 3.1 line)")
}

test_fail_single_version_row if {
	any_contains(c.deny, "etcd#11918") with input as member("3.3.21")
	not any_contains(c.deny, "etcd#11918") with input as member("3.3.22")
}

test_data_override_adds_row if {
	extra := {"x": {"title": "test bug", "issue": "etcd#1", "affected": {"3.7": {"from": "3.7.0", "below": "3.7.9", "fixed": "3.7.9"}}, "source": "test"}}
	any_contains(c.deny, "etcd#1 (test bug)") with input as member("3.7.3") with data.etcdaudit.known_issues as extra
}

test_skip_unparseable if {
	count(c.skip) == 1 with input as member("banana")
	count(c.deny) == 0 with input as member("banana")
}

test_missing_version_yields_nothing if {
	# The engine turns this into error through custom.needs.
	count(c.deny) == 0 with input as {"member": {"name": "m1", "reachable": false}}
	count(c.skip) == 0 with input as {"member": {"name": "m1", "reachable": false}}
}

any_contains(msgs, s) if {
	some m in msgs
	contains(m, s)
}

test_fail_names_the_upgrade_command if {
	some m in c.deny with input as member("3.5.1")
	endswith(m, "(`etcdaudit remediate plan --actions upgrade` plans it)")
}

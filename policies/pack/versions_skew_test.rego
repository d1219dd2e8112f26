package etcdaudit.controls.versions.skew_test

import data.etcdaudit.controls.versions.skew as c

cluster(vs) := {"cluster": {"name": "c", "members": [m |
	some i, v in vs
	m := {"name": sprintf("m%d", [i]), "version": {"server": v}}
]}}

test_pass_same if count(c.deny) == 0 with input as cluster(["3.5.35", "3.5.35", "3.5.35"])

test_pass_one_minor if count(c.deny) == 0 with input as cluster(["3.4.23", "3.5.35"])

test_pass_across_major_one_hop if count(c.deny) == 0 with input as cluster(["2.3.8", "3.0.17"])

test_fail_two_minors if {
	some m in c.deny with input as cluster(["3.4.23", "3.6.16", "3.6.16"])
	contains(m, "members on 3.4 (m0) and on 3.6 (m1, m2) are 2 minor versions apart")
	contains(m, "bringing the 3.4 members to 3.5 first")
}

test_fail_skipped_3_0 if count(c.deny) == 1 with input as cluster(["2.3.8", "3.1.20"])

test_missing_versions_ignored if {
	# A down member has no version: judged on the others; the engine makes
	# the result error only when no member has a version.
	count(c.deny) == 0 with input as {"cluster": {"members": [{"name": "a"}, {"name": "b", "version": {"server": "3.5.1"}}]}}
}

test_fail_names_the_upgrade_command if {
	some m in c.deny with input as cluster(["3.4.23", "3.6.16"])
	endswith(m, "(`etcdaudit remediate plan --actions upgrade` plans it)")
}

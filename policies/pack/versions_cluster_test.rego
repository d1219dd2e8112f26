package etcdaudit.controls.versions.cluster_test

import data.etcdaudit.controls.versions.cluster as c

cluster(ms) := {"cluster": {"name": "c", "members": [m |
	some i, x in ms
	m := {"name": sprintf("m%d", [i]), "version": {"server": x[0], "cluster": x[1]}}
]}}

test_pass if {
	count(c.deny) == 0 with input as cluster([["3.5.35", "3.5.0"], ["3.5.35", "3.5.0"]])
	count(c.skip) == 0 with input as cluster([["3.5.35", "3.5.0"], ["3.5.35", "3.5.0"]])
}

test_fail_cluster_version_behind if {
	some m in c.deny with input as cluster([["3.5.35", "3.4.0"], ["3.5.35", "3.4.0"]])
	contains(m, "cluster version 3.4 but the lowest member runs 3.5.35")
}

test_fail_disagree if {
	some m in c.deny with input as cluster([["3.5.35", "3.5.0"], ["3.5.35", "3.4.0"]])
	contains(m, "members disagree on the cluster version")
}

test_fail_half_done if {
	some m in c.deny with input as cluster([["3.4.23", "3.4.0"], ["3.5.35", "3.4.0"], ["3.5.35", "3.4.0"]])
	contains(m, "upgrade left half done: members run 3.4 on m0; 3.5 on m1, m2")
}

test_skip_no_cluster_version if {
	count(c.skip) == 1 with input as {"cluster": {"members": [{"name": "a", "version": {"server": "2.0.13"}}]}}
}

test_fail_off_path_lines if {
	some m in c.deny with input as cluster([["9.1.0", "9.0.0"], ["9.1.2", "9.0.0"]])
	contains(m, "cluster version 9.0 but the lowest member runs 9.1.0")
}

# Members without a name (not started yet) or sharing one still compare,
# labelled by endpoint or position, instead of a rule conflict.
test_fail_disagree_nameless if {
	some m in c.deny with input as {"cluster": {"members": [
		{"name": "", "endpoint": "https://10.0.0.1:2379", "version": {"server": "3.5.35", "cluster": "3.5.0"}},
		{"name": "", "version": {"server": "3.5.35", "cluster": "3.4.0"}},
		{"name": "", "version": {"server": "3.5.35", "cluster": "3.5.0"}},
	]}}
	contains(m, "members disagree on the cluster version (https://10.0.0.1:2379: 3.5.0, member #2: 3.4.0, member #3: 3.5.0)")
}

test_fail_half_done_names_the_upgrade_command if {
	some m in c.deny with input as cluster([["3.5.35", "3.5.0"], ["3.6.16", "3.5.0"]])
	contains(m, "upgrade left half done")
	endswith(m, "(`etcdaudit remediate plan --actions upgrade` plans it)")
}

test_fail_lowest_is_the_release_candidate if {
	some m in c.deny with input as cluster([["3.6.0", "3.5.0"], ["3.6.0-rc.1", "3.5.0"]])
	contains(m, "the lowest member runs 3.6.0-rc.1")
}

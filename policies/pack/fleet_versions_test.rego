package etcdaudit.controls.fleet.versions_test

import data.etcdaudit.controls.fleet.versions as c

cl(name, vs) := {"name": name, "members": [{"name": sprintf("m%d", [i]), "version": {"server": v}} | some i, v in vs]}

test_pass if count(c.deny) == 0 with input as {"fleet": {"clusters": [cl("a", ["3.7.3"]), cl("b", ["3.6.16", "3.7.3"])]}}

test_fail_behind if {
	msgs := c.deny with input as {"fleet": {"clusters": [cl("a", ["3.7.3"]), cl("old", ["3.5.35", "3.4.23"])]}}
	count(msgs) == 1
	some msg in msgs
	startswith(msg, "cluster old: lowest member runs 3.4.23, 3 minor versions behind the target 3.7.3: upgrade path 3.4 -> 3.5")
}

test_fail_v2_cluster if count(c.deny) == 1 with input as {"fleet": {"clusters": [cl("legacy", ["2.2.5"])]}}

test_skip_unknown if {
	some msg in c.skip with input as {"fleet": {"clusters": [cl("a", ["3.7.3"]), {"name": "down", "members": [{"name": "x"}]}]}}
	msg == "no member version known for cluster(s) down"
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"fleet": {"clusters": []}}

test_fail_lowest_is_the_release_candidate if {
	some msg in c.deny with input as {"fleet": {"clusters": [cl("rc", ["3.5.0", "3.5.0-rc.1"])]}} with data.etcdaudit.baseline.target as "3.7.3"
	startswith(msg, "cluster rc: lowest member runs 3.5.0-rc.1, 2 minor versions behind")
	endswith(msg, "(`etcdaudit remediate plan --actions upgrade` plans it)")
}

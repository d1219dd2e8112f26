package etcdaudit.controls.health.hashkv_test

import data.etcdaudit.controls.health.hashkv as c

h(agree, hashes) := {"cluster": {"members": [{}, {}, {}], "hashkv": {"revision": 120, "compact_revision": 100, "hashes": hashes, "agree": agree, "members_compared": count(hashes)}}}

test_pass if count(c.deny) == 0 with input as h(true, {"m1": 1, "m2": 1, "m3": 1})

test_fail if {
	some msg in c.deny with input as h(false, {"m1": 1, "m2": 1, "m3": 7})
	contains(msg, "revision 120")
	contains(msg, "m3=7")
}

test_skip_one_member_compared if count(c.skip) == 1 with input as h(true, {"m1": 1})

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {"members": [{}]}}

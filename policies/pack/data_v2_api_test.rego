package etcdaudit.controls.data.v2_api_test

import data.etcdaudit.controls.data.v2_api as c

m(v, on) := {"member": {"name": "m1", "version": {"server": v}, "v2": {"enabled": on}}}

test_pass_disabled if count(c.deny) == 0 with input as m("3.5.35", false)

test_pass_3_6 if count(c.deny) == 0 with input as m("3.6.16", false)

test_fail_3_4_warns_health if {
	some msg in c.deny with input as m("3.4.23", true)
	contains(msg, "--enable-v2")
	contains(msg, "GET /health")
}

test_fail_3_2_no_health_note if {
	some msg in c.deny with input as m("3.2.32", true)
	not contains(msg, "/health")
}

test_skip_before_3_2 if {
	count(c.skip) == 1 with input as m("3.1.20", true)
	count(c.deny) == 0 with input as m("3.1.20", true)
	count(c.skip) == 1 with input as m("2.3.8", true)
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

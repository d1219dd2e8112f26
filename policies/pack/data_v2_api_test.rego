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

# --enable-v2 defaults to true in 3.2–3.3: dropping the flag is not enough there.
test_fail_3_3_needs_explicit_false if {
	some msg in c.deny with input as m("3.3.27", true)
	contains(msg, "--enable-v2=false")
}

test_fail_3_5_drops_the_flag if {
	some msg in c.deny with input as m("3.5.35", true)
	contains(msg, "restart it without --enable-v2 (off by default from 3.4)")
	contains(msg, "GET /health")
}

# A 3.6 release candidate runs 3.6 code: no /health note, no skip.
test_3_6_pre_release_counts_as_3_6 if {
	some msg in c.deny with input as m("3.6.0-rc.1", true)
	not contains(msg, "/health")
	count(c.skip) == 0 with input as m("3.6.0-rc.1", true)
}

test_3_2_pre_release_can_turn_v2_off if {
	count(c.skip) == 0 with input as m("3.2.0-rc.1", true)
	count(c.deny) == 1 with input as m("3.2.0-rc.1", true)
}

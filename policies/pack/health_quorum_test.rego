package etcdaudit.controls.health.quorum_test

import data.etcdaudit.controls.health.quorum as c

cl(n, tier) := {"cluster": {"labels": {"tier": tier}, "consistency": {"voting_members": n}}}

test_pass_three_medium if count(c.deny) == 0 with input as cl(3, "medium")

test_pass_one_small if count(c.deny) == 0 with input as cl(1, "small")

test_pass_one_no_tier if count(c.deny) == 0 with input as {"cluster": {"consistency": {"voting_members": 1}}}

test_fail_even if {
	some msg in c.deny with input as cl(4, "large")
	msg == "4 voting members: an even count tolerates 1 failure(s), like 3 members, but needs a quorum of 3; add or remove one member"
}

test_fail_too_few_large if {
	some msg in c.deny with input as cl(1, "large")
	msg == "tier large needs at least 3 voting members, has 1"
}

test_fail_zero if count(c.deny) == 1 with input as cl(0, "small")

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {"labels": {"tier": "large"}}}

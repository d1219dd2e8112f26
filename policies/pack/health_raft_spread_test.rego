package etcdaudit.controls.health.raft_spread_test

import data.etcdaudit.controls.health.raft_spread as c

cs(minv, maxv, n, voting) := {"cluster": {"consistency": {"applied_index_min": minv, "applied_index_max": maxv, "applied_index_spread": maxv - minv, "members_compared": n, "voting_members": voting}}}

test_pass_small if count(c.deny) == 0 with input as cs(1000, 1003, 3, 3)

test_pass_single_member if {
	count(c.deny) == 0 with input as cs(5, 5, 1, 1)
	count(c.skip) == 0 with input as cs(5, 5, 1, 1)
}

test_fail_spread if {
	some msg in c.deny with input as cs(1000, 50000, 3, 3)
	contains(msg, "spread 49000 (from 1000 to 50000 over 3 members) exceeds 1000")
}

test_skip_one_answered if count(c.skip) == 1 with input as cs(5, 5, 1, 3)

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {}}

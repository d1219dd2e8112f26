package etcdaudit.controls.health.leader_test

import data.etcdaudit.controls.health.leader as c

cs(leaders, n) := {"cluster": {"consistency": {"leaders": leaders, "members_compared": n}}}

test_pass_one if count(c.deny) == 0 with input as cs(["8e9e05c52164694d"], 3)

test_fail_none if {
	some msg in c.deny with input as cs(["0"], 3)
	contains(msg, "no leader")
}

test_fail_two if {
	some msg in c.deny with input as cs(["8e9e05c52164694d", "91bc3c398fb3c146"], 3)
	contains(msg, "2 different leaders")
}

test_fail_nobody_answered if count(c.deny) == 1 with input as cs([], 0)

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {}}

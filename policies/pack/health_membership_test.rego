package etcdaudit.controls.health.membership_test

import data.etcdaudit.controls.health.membership as c

cl(agree, unstarted, learners, members) := {"cluster": {"members": members, "consistency": {"member_lists_agree": agree, "unstarted": unstarted, "learners": learners}}}

ok_members := [{"name": "m1", "started": true}, {"name": "m2", "started": true}, {"name": "m3", "started": true}]

test_pass if count(c.deny) == 0 with input as cl(true, 0, 0, ok_members)

test_fail_lists_disagree if count(c.deny) == 1 with input as cl(false, 0, 0, ok_members)

test_fail_unstarted if {
	some msg in c.deny with input as cl(true, 1, 0, array.concat(ok_members, [{"name": "", "id": "a1b2", "started": false}]))
	contains(msg, "never started (a1b2)")
}

test_fail_learner if {
	some msg in c.deny with input as cl(true, 0, 1, array.concat(ok_members, [{"name": "m4", "started": true, "is_learner": true}]))
	contains(msg, "not promoted (m4)")
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {"members": ok_members}}

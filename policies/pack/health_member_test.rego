package etcdaudit.controls.health.member_test

import data.etcdaudit.controls.health.member as c

test_pass_healthy if count(c.deny) == 0 with input as {"member": {"reachable": true, "health": {"healthy": true}}}

test_fail_unreachable if {
	some msg in c.deny with input as {"member": {"endpoint": "https://10.0.0.1:2379", "reachable": false, "unreachable_reason": "dial tcp 10.0.0.1:2379: connect: connection refused"}}
	msg == "member unreachable at https://10.0.0.1:2379: dial tcp 10.0.0.1:2379: connect: connection refused"
}

test_fail_unhealthy if {
	some msg in c.deny with input as {"member": {"reachable": true, "health": {"healthy": false, "reason": "no leader"}}}
	msg == "member unhealthy: no leader"
}

test_missing_health_yields_nothing if count(c.deny) == 0 with input as {"member": {"reachable": true}}

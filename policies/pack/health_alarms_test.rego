package etcdaudit.controls.health.alarms_test

import data.etcdaudit.controls.health.alarms as c

cl(alarms) := {"cluster": {"members": [
	{"name": "m1", "id": "8e9e05c52164694d", "alarms": {"alarms": alarms}},
	{"name": "m2", "id": "91bc3c398fb3c146", "alarms": {"alarms": alarms}},
	{"name": "m3", "id": "fd422379fda50e48"},
]}}

test_pass_none if count(c.deny) == 0 with input as cl([])

test_fail_nospace_once_named if {
	msgs := c.deny with input as cl([{"member_id": "91bc3c398fb3c146", "alarm": "NOSPACE"}])
	count(msgs) == 1
	some msg in msgs
	startswith(msg, "alarm NOSPACE active on member m2:")
	contains(msg, "alarm disarm")
}

test_fail_corrupt_unknown_member_id if {
	some msg in c.deny with input as cl([{"member_id": "abc", "alarm": "CORRUPT"}])
	startswith(msg, "alarm CORRUPT active on member abc:")
}

test_missing_alarms_yields_nothing if count(c.deny) == 0 with input as {"cluster": {"members": [{"name": "m1"}]}}

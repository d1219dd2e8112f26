package etcdaudit.controls.k8s.event_leases_test

import data.etcdaudit.controls.k8s.event_leases as c

cov(keys, leased) := {"cluster": {"event_leases": {"prefix": "/registry/events/", "keys": keys, "leased": leased, "unleased": keys - leased, "ratio": ratio(keys, leased), "sample_no_lease": ["/registry/events/default/a", "/registry/events/default/b"]}}}

ratio(0, _) := 1

ratio(k, l) := l / k if k > 0

test_pass_all_leased if count(c.deny) == 0 with input as cov(500, 500)

test_pass_no_events if count(c.deny) == 0 with input as cov(0, 0)

test_pass_at_threshold if count(c.deny) == 0 with input as cov(1000, 990)

test_fail_unleased if {
	some msg in c.deny with input as cov(500, 88)
	contains(msg, "412 of 500 events keys under /registry/events/ carry no lease (coverage 17.6%, minimum 99%), e.g. /registry/events/default/a")
}

test_threshold_from_data if count(c.deny) == 0 with input as cov(500, 88) with data.etcdaudit.baseline.lease_coverage_min as 0.1

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {}}

test_fail_names_the_remediation_command if {
	some msg in c.deny with input as cov(500, 88)
	endswith(msg, "(`etcdaudit remediate plan --actions attach-event-leases` plans it)")
}

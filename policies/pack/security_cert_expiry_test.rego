package etcdaudit.controls.security.cert_expiry_test

import data.etcdaudit.controls.security.cert_expiry as c

s(days) := {"member": {"security": {"scheme": "https", "cert_days_left": days, "cert_not_after": "2026-12-01T00:00:00Z", "cert_subject": "CN=etcd"}}}

test_pass_far if count(c.deny) == 0 with input as s(365)

test_fail_soon if {
	some msg in c.deny with input as s(12.5)
	msg == "server certificate (CN=etcd) expires on 2026-12-01T00:00:00Z, in 12.5 days (threshold 30): rotate it"
}

test_fail_expired if {
	some msg in c.deny with input as s(-3)
	contains(msg, "expired on 2026-12-01T00:00:00Z, 3 days ago")
}

test_skip_http if count(c.skip) == 1 with input as {"member": {"security": {"scheme": "http"}}}

test_skip_no_expiry if count(c.skip) == 1 with input as {"member": {"security": {"scheme": "https"}}}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

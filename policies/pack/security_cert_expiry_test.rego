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

# Without the expiry date or the subject (only the days left recorded) an
# expiring certificate still fails; the message says what is missing.
test_fail_without_date if {
	bare := {"member": {"security": {"scheme": "https", "cert_days_left": -2}}}
	some msg in c.deny with input as bare
	msg == "server certificate (?) expired on an unrecorded date, 2 days ago: clients verifying it cannot connect; rotate it now"
	some msg2 in c.deny with input as {"member": {"security": {"scheme": "https", "cert_days_left": 7}}}
	contains(msg2, "expires on an unrecorded date, in 7 days")
}

test_skip_http if count(c.skip) == 1 with input as {"member": {"security": {"scheme": "http"}}}

test_skip_no_expiry if count(c.skip) == 1 with input as {"member": {"security": {"scheme": "https"}}}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

# Boundaries: exactly at the threshold fails, just above passes; 0 days
# left is expiring, not expired; a fraction below 0 is expired.
test_boundary_at_threshold if {
	count(c.deny) == 1 with input as s(30)
	count(c.deny) == 0 with input as s(30.000001)
	some msg in c.deny with input as s(0)
	contains(msg, "in 0 days")
	some msg2 in c.deny with input as s(-0.25)
	contains(msg2, "expired on")
}

# A negative threshold (a bad --data file) still fails expired
# certificates, and nothing else.
test_negative_threshold if {
	count(c.deny) == 1 with input as s(-1) with data.etcdaudit.baseline.cert_expiry_days as -5
	count(c.deny) == 0 with input as s(0) with data.etcdaudit.baseline.cert_expiry_days as -5
	count(c.deny) == 0 with input as s(3) with data.etcdaudit.baseline.cert_expiry_days as -5
}

test_zero_threshold if {
	count(c.deny) == 1 with input as s(0) with data.etcdaudit.baseline.cert_expiry_days as 0
	count(c.deny) == 0 with input as s(0.5) with data.etcdaudit.baseline.cert_expiry_days as 0
}

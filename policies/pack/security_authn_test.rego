package etcdaudit.controls.security.authn_test

import data.etcdaudit.controls.security.authn as c

s(x) := {"member": {"security": x}}

test_pass_client_cert if count(c.deny) == 0 with input as s({"scheme": "https", "client_cert_required": true, "auth_enabled": false})

test_pass_auth if {
	count(c.deny) == 0 with input as s({"scheme": "http", "auth_enabled": true})
	count(c.skip) == 0 with input as s({"scheme": "http", "auth_enabled": true})
}

test_fail_http_no_auth if {
	some msg in c.deny with input as s({"scheme": "http", "auth_enabled": false})
	contains(msg, "plain http")
}

test_fail_https_open if {
	some msg in c.deny with input as s({"scheme": "https", "client_cert_required": false, "auth_enabled": false})
	contains(msg, "without a certificate")
}

test_skip_unknown if {
	some msg in c.skip with input as s({"scheme": "https", "client_cert_required": false})
	msg == "could not tell: client certificate required false, auth enabled unknown"
	count(c.deny) == 0 with input as s({"scheme": "https", "client_cert_required": false})
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

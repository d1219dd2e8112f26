package etcdaudit.controls.security.tls_test

import data.etcdaudit.controls.security.tls as c

test_pass_https if count(c.deny) == 0 with input as {"member": {"security": {"scheme": "https"}}}

test_fail_http if {
	some msg in c.deny with input as {"member": {"endpoint": "http://127.0.0.1:2379", "security": {"scheme": "http"}}}
	contains(msg, "the client endpoint uses http")
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

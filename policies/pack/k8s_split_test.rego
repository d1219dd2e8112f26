package etcdaudit.controls.k8s.split_test

import data.etcdaudit.controls.k8s.split as c

test_pass_etcd3 if count(c.deny) == 0 with input as {"member": {"backend": {"observed": "etcd3"}}}

test_pass_none if count(c.deny) == 0 with input as {"member": {"backend": {"observed": "none"}}}

test_fail_mixed if {
	some msg in c.deny with input as {"member": {"backend": {"observed": "mixed"}, "v2": {"registry_keys": 12}, "v3": {"registry_keys": 300}}}
	contains(msg, "12 v2 keys and 300 v3 keys")
}

test_fail_mixed_counts_unknown if {
	some msg in c.deny with input as {"member": {"backend": {"observed": "mixed"}}}
	contains(msg, "some v2 keys")
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"member": {}}

package etcdaudit.controls.k8s.declared_test

import data.etcdaudit.controls.k8s.declared as c

inp(d, o) := {"cluster": {"declared_backend": d}, "member": {"backend": {"observed": o}}}

test_pass_equal if count(c.deny) == 0 with input as inp("etcd3", "etcd3")

test_fail_differs if {
	some msg in c.deny with input as inp("etcd3", "etcd2")
	contains(msg, "declares kubernetes_backend etcd3 but the data says etcd2")
}

test_fail_none_observed if {
	some msg in c.deny with input as inp("etcd2", "none")
	contains(msg, "no /registry keys")
}

test_skip_undeclared if {
	count(c.skip) == 1 with input as {"cluster": {}, "member": {"backend": {"observed": "etcd3"}}}
	count(c.deny) == 0 with input as {"cluster": {}, "member": {"backend": {"observed": "etcd3"}}}
}

test_missing_yields_nothing if count(c.deny) == 0 with input as {"cluster": {"declared_backend": "etcd3"}, "member": {}}

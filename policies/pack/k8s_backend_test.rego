package etcdaudit.controls.k8s.backend_test

import data.etcdaudit.controls.k8s.backend as c

b(o) := {"member": {"backend": {"observed": o}}}

test_pass_etcd3 if {
	count(c.deny) == 0 with input as b("etcd3")
	count(c.skip) == 0 with input as b("etcd3")
}

test_fail_etcd2 if {
	some msg in c.deny with input as b("etcd2")
	contains(msg, "observed etcd2, required etcd3")
}

test_fail_mixed if count(c.deny) == 1 with input as b("mixed")

test_skip_none if count(c.skip) == 1 with input as b("none")

test_required_from_data if count(c.deny) == 1 with input as b("etcd3") with data.etcdaudit.baseline.required_backend as "etcd2"

test_missing_yields_nothing if {
	count(c.deny) == 0 with input as {"member": {}}
	count(c.skip) == 0 with input as {"member": {}}
}

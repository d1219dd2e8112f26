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

sv(v) := {"member": {"backend": {"observed": "mixed"}, "version": {"server": v}}}

test_fail_mixed_3_4_names_etcdctl_migrate if {
	some msg in c.deny with input as sv("3.4.23")
	contains(msg, "`ETCDCTL_API=3 etcdctl migrate --data-dir <data-dir>`")
	contains(msg, "must not overwrite newer v3 keys")
	contains(msg, "`etcdaudit remediate plan --actions migrate-v2-to-v3`")
}

test_fail_mixed_3_5_copies_through_the_apis if {
	some msg in c.deny with input as sv("3.5.35")
	contains(msg, "`etcdctl migrate` was removed in 3.5")
	not contains(msg, "etcdctl migrate --data-dir")
}

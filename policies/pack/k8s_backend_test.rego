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

bv(o, v) := {"member": {"backend": {"observed": o}, "version": {"server": v}}}

# The v2 -> v3 copy named for each version: `etcdctl migrate` only where it
# exists (etcdctl 3.0–3.4), the APIs on 3.5, a 3.0/3.1 stop for 2.x data.
test_fail_3_4_names_etcdctl_migrate if {
	some msg in c.deny with input as bv("etcd2", "3.4.23")
	contains(msg, "`ETCDCTL_API=3 etcdctl migrate --data-dir <data-dir>`")
	contains(msg, "`ETCDCTL_API=2 etcdctl rm --recursive <dir>`")
	contains(msg, "`etcdaudit remediate plan --actions migrate-v2-to-v3`")
}

test_fail_3_5_never_names_etcdctl_migrate_as_a_step if {
	some msg in c.deny with input as bv("etcd2", "3.5.35")
	contains(msg, "`etcdctl migrate` was removed in 3.5")
	not contains(msg, "--data-dir")
	contains(msg, "through the APIs")
	contains(msg, "--enable-v2")
	contains(msg, "`etcdaudit remediate plan --actions migrate-v2-to-v3`")
}

test_fail_3_6_has_no_v2_api if {
	some msg in c.deny with input as bv("mixed", "3.6.16")
	contains(msg, "has no v2 API (removed in 3.6)")
	not contains(msg, "etcdctl migrate --data-dir")
}

test_fail_2_x_goes_through_3_0 if {
	some msg in c.deny with input as bv("etcd2", "2.3.8")
	contains(msg, "needs etcd 3.0 or 3.1")
	contains(msg, "before any 3.2")
}

test_fail_version_unknown_names_both_ways if {
	some msg in c.deny with input as b("etcd2")
	contains(msg, "etcdctl 3.0–3.4")
	contains(msg, "from 3.5 on, through the v2 and v3 APIs")
}

test_required_etcd2_no_migration_steps if {
	some msg in c.deny with input as bv("mixed", "3.4.23") with data.etcdaudit.baseline.required_backend as "etcd2"
	msg == "Kubernetes storage backend observed mixed, required etcd2"
}

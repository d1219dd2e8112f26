package etcdaudit.controls.data.v2_custom_test

import data.etcdaudit.controls.data.v2_custom as c

m(v, v2) := {"member": {"name": "m1", "version": {"server": v}, "v2": v2}}

test_pass_empty_v2 if {
	count(c.deny) == 0 with input as m("3.4.23", {"enabled": true, "counted": true, "keys": 0, "dirs": 0})
	count(c.skip) == 0 with input as m("3.4.23", {"enabled": true, "counted": true, "keys": 0, "dirs": 0})
}

test_pass_3_6 if {
	count(c.deny) == 0 with input as m("3.6.16", {"enabled": false, "counted": false, "keys": 0, "dirs": 0})
	count(c.skip) == 0 with input as m("3.6.16", {"enabled": false, "counted": false, "keys": 0, "dirs": 0})
}

test_fail_custom_keys if {
	some msg in c.deny with input as m("3.0.17", {"enabled": true, "counted": true, "keys": 1200, "dirs": 40, "registry_present": true, "registry_keys": 1150, "sample_keys": ["/registry/pods/default/a", "/registry/events/default/b", "/foo", "/bar"]})
	contains(msg, "etcd 3.0.17 holds 1200 custom v2 keys in 40 dirs (1150 of them Kubernetes keys under /registry), e.g. /registry/pods/default/a, /registry/events/default/b, /foo")
	contains(msg, "etcd 3.6 refuses to start")
}

test_fail_dirs_only if count(c.deny) == 1 with input as m("3.5.35", {"enabled": true, "counted": true, "keys": 0, "dirs": 2})

test_skip_2_x if {
	count(c.deny) == 0 with input as m("2.2.5", {"enabled": true, "counted": true, "keys": 10, "dirs": 1})
	some msg in c.skip with input as m("2.2.5", {"enabled": true, "counted": true, "keys": 10, "dirs": 1})
	contains(msg, "only store")
}

test_skip_v2_disabled if {
	some msg in c.skip with input as m("3.5.35", {"enabled": false, "counted": false, "keys": 0, "dirs": 0})
	contains(msg, "etcdutl check v2store")
}

test_skip_not_counted if {
	some msg in c.skip with input as m("3.4.23", {"enabled": true, "counted": false, "keys": 0, "dirs": 0})
	contains(msg, "--profile standard")
}

test_missing_v2_yields_nothing if {
	count(c.deny) == 0 with input as {"member": {"version": {"server": "3.4.23"}}}
}

custom := {"enabled": true, "counted": true, "keys": 3, "dirs": 1}

test_fail_3_4_names_etcdctl_migrate_and_defers_the_snapshot_step if {
	some msg in c.deny with input as m("3.4.23", custom)
	contains(msg, "`ETCDCTL_API=3 etcdctl migrate --data-dir <data-dir>`")
	contains(msg, "on 3.5, before the 3.6 hop")
	contains(msg, "`etcdaudit remediate plan --actions migrate-v2-to-v3`")
}

test_fail_3_5_copies_through_the_apis_and_checks if {
	some msg in c.deny with input as m("3.5.35", custom)
	contains(msg, "`etcdctl migrate` was removed in 3.5")
	not contains(msg, "etcdctl migrate --data-dir")
	contains(msg, "--snapshot-count=5")
	contains(msg, "`etcdutl check v2store --data-dir <data-dir>` on each stopped member (3.5.32+ also reads the WAL)")
}

test_fail_3_5_before_18_needs_a_newer_etcdutl if {
	some msg in c.deny with input as m("3.5.9", custom)
	contains(msg, "with an etcdutl of 3.5.18 or later (3.5.9's lacks it)")
}

test_skip_v2_disabled_per_version if {
	some on_35 in c.skip with input as m("3.5.20", {"enabled": false})
	contains(on_35, "`etcdutl check v2store --data-dir <data-dir>` on each stopped member")
	some on_34 in c.skip with input as m("3.4.23", {"enabled": false})
	contains(on_34, "once it runs 3.5")
}

test_unparsable_version_yields_nothing if {
	count(c.deny) == 0 with input as m("garbage", custom)
	count(c.skip) == 0 with input as m("garbage", custom)
}

test_fail_v2_auth_users_and_roles if {
	f := {"enabled": true, "counted": true, "keys": 0, "dirs": 0, "auth_enabled": true, "auth_counted": true, "auth_users": 1, "auth_roles": 1}
	some msg in c.deny with input as m("3.5.35", f)
	contains(msg, "stores 1 v2 auth users and 1 v2 auth roles (v2 auth is on)")
	contains(msg, "etcdctl auth disable")
	count(c.skip) == 0 with input as m("3.5.35", f)
}

test_fail_v2_auth_user_left_after_disable if {
	some msg in c.deny with input as m("3.4.23", {"enabled": true, "counted": true, "keys": 0, "dirs": 0, "auth_counted": true, "auth_users": 1})
	contains(msg, "(v2 auth is off)")
}

test_pass_v2_auth_empty if {
	f := {"enabled": true, "counted": true, "keys": 0, "dirs": 0, "auth_counted": true}
	count(c.deny) == 0 with input as m("3.5.35", f)
	count(c.skip) == 0 with input as m("3.5.35", f)
}

test_skip_v2_auth_unread if {
	some msg in c.skip with input as m("3.5.35", {"enabled": true, "counted": true, "keys": 0, "dirs": 0, "auth_enabled": true, "auth_error": "v2 auth is on and its users and roles need root access"})
	contains(msg, "need root access")
}

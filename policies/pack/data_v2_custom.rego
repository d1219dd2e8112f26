# METADATA
# title: No custom v2 data on a 3.x member
# description: >-
#   A 3.x member's v2 store holds nothing but etcd's own entries. etcd 3.6
#   refuses to start on a data dir whose v2 store holds custom data, and
#   Kubernetes data still in v2 is the seed's unfinished migration.
# custom:
#   id: ETCD-V2-001
#   impact: 0.9
#   scope: member
#   tags: [data, v2, upgrade]
#   remediation: migrate-v2-to-v3
#   refs: ["https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/", "https://etcd.io/docs/v3.4/op-guide/v2-migration/"]
#   needs: [version, v2, v2_count]
package etcdaudit.controls.data.v2_custom

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.v2
import data.etcdaudit.lib.versions

deny contains msg if {
	v := input.member.version.server
	versions.major(v) == 3
	f := input.member.v2
	f.enabled
	f.counted
	f.keys + f.dirs > 0
	msg := sprintf("etcd %s holds %d custom v2 keys in %d dirs%s%s: etcd 3.6 refuses to start on it; migrate what is still needed to v3 (%s), %s%s", [v, f.keys, f.dirs, registry_note(f), sample_note(f), v2.copy(v), v2.before_3_6(v), remediate.hint("migrate-v2-to-v3")])
}

# The v2 API's own users and roles live in the v2 store too (under /2,
# invisible to the keys API), and 3.6 refuses them like any custom v2 data
# (etcd 3.6 membership.IsMetaStoreOnly; etcd discussion #20231).
deny contains msg if {
	v := input.member.version.server
	versions.major(v) == 3
	f := input.member.v2
	f.enabled
	f.auth_counted
	users := object.get(f, "auth_users", 0)
	roles := object.get(f, "auth_roles", 0)
	users + roles > 0
	msg := sprintf("etcd %s stores %d v2 auth users and %d v2 auth roles (v2 auth is %s): etcd 3.6 refuses to start on them as custom v2 content; as the v2 root user run `ETCDCTL_API=2 etcdctl auth disable`, then `ETCDCTL_API=2 etcdctl user remove <user>` and `role remove <role>` for each (v3 auth, if used, is separate and stays)", [v, users, roles, on_off(object.get(f, "auth_enabled", false))])
}

on_off(true) := "on"

on_off(false) := "off"

registry_note(f) := sprintf(" (%d of them Kubernetes keys under /registry)", [f.registry_keys]) if {
	f.registry_present
} else := ""

sample_note(f) := sprintf(", e.g. %s", [concat(", ", array.slice(f.sample_keys, 0, 3))]) if {
	count(f.sample_keys) > 0
} else := ""

skip contains msg if {
	v := input.member.version.server
	versions.major(v) < 3
	msg := sprintf("etcd %s: the v2 store is this member's only store; v2 data is judged once it runs 3.x", [v])
}

skip contains msg if {
	v := input.member.version.server
	versions.major(v) == 3
	not versions.at_least(v, 3, 6)
	not input.member.v2.enabled
	msg := sprintf("etcd %s: the v2 API is disabled, so its v2 store cannot be read over the wire; before a 3.6 hop run %s", [v, v2.check(v)])
}

skip contains msg if {
	input.member.v2.enabled
	input.member.v2.counted
	input.member.v2.auth_enabled
	not input.member.v2.auth_counted
	count(deny) == 0
	msg := sprintf("v2 auth is on and its users and roles were not read (%s): 3.6 refuses any of them, so they must be known before the 3.6 hop", [object.get(input.member.v2, "auth_error", "no root access")])
}

skip contains msg if {
	input.member.v2.enabled
	not input.member.v2.counted
	msg := "the v2 keyspace was not walked: run with --profile standard (the default) or full to count custom v2 keys"
}

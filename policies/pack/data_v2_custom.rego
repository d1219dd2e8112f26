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

import data.etcdaudit.lib.versions

major(v) := split(v, ".")[0]

deny contains msg if {
	v := input.member.version.server
	major(v) == "3"
	v2 := input.member.v2
	v2.enabled
	v2.counted
	v2.keys + v2.dirs > 0
	msg := sprintf("etcd %s holds %d custom v2 keys in %d dirs%s%s: etcd 3.6 refuses to start on it; migrate what is still needed to v3, delete the v2 data, then restart every member without --enable-v2 with --snapshot-count=5 and write at least 12 keys so each newest snapshot is past the deletion", [v, v2.keys, v2.dirs, registry_note(v2), sample_note(v2)])
}

registry_note(v2) := sprintf(" (%d of them Kubernetes keys under /registry)", [v2.registry_keys]) if {
	v2.registry_present
} else := ""

sample_note(v2) := sprintf(", e.g. %s", [concat(", ", array.slice(v2.sample_keys, 0, 3))]) if {
	count(v2.sample_keys) > 0
} else := ""

skip contains msg if {
	v := input.member.version.server
	major(v) != "3"
	msg := sprintf("etcd %s: the v2 store is this member's only store; v2 data is judged once it runs 3.x", [v])
}

skip contains msg if {
	v := input.member.version.server
	major(v) == "3"
	versions.compare(v, "3.6.0") < 0
	not input.member.v2.enabled
	msg := sprintf("etcd %s: the v2 API is disabled, so its v2 store cannot be read over the wire; run `etcdutl check v2store` (3.5.18+) on each data dir before a 3.6 hop", [v])
}

skip contains msg if {
	input.member.v2.enabled
	not input.member.v2.counted
	msg := "the v2 keyspace was not walked: run with --profile standard (the default) or full to count custom v2 keys"
}

# METADATA
# title: v2 API disabled
# description: >-
#   The legacy v2 API is off on 3.x members that can turn it off (3.2–3.5;
#   3.6 removed it). While it is on, GET /health (and v2 quorum reads) append
#   v2 entries to the raft log on 3.4 and 3.5 — exactly what makes 3.6 panic
#   with "detected disallowed v2 WAL" — and v2 writes can recreate the data a
#   3.6 hop must not find.
# custom:
#   id: ETCD-V2-002
#   impact: 0.6
#   scope: member
#   tags: [data, v2, upgrade, security]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/", "https://etcd.io/docs/v3.5/op-guide/configuration/"]
#   needs: [version, v2]
package etcdaudit.controls.data.v2_api

import data.etcdaudit.lib.v2
import data.etcdaudit.lib.versions

deny contains msg if {
	v := input.member.version.server
	input.member.v2.enabled
	versions.at_least(v, 3, 2)
	msg := sprintf("etcd %s serves the v2 API (--enable-v2): %s once no client needs v2%s", [v, off(v), health_note(v)])
}

# 3.6 has no --enable-v2; a member reported with v2 on there gets the plain step.
off(v) := s if {
	s := v2.v2_off(v)
} else := "restart it without --enable-v2"

health_note(v) := "; until then no probe may call GET /health on it (on 3.4 and 3.5 with v2 on, /health appends a v2 QGET raft entry that makes 3.6 panic \"detected disallowed v2 WAL\")" if {
	versions.at_least(v, 3, 4)
	not versions.at_least(v, 3, 6)
} else := ""

skip contains msg if {
	v := input.member.version.server
	versions.valid(v)
	not versions.at_least(v, 3, 2)
	msg := sprintf("etcd %s cannot disable the v2 API (--enable-v2 exists from 3.2)", [v])
}

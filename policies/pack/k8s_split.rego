# METADATA
# title: Kubernetes data not split between v2 and v3
# description: >-
#   /registry lives in one store only. Kubernetes keys in both the v2 and the
#   v3 store mean a migration ran without stopping every API server, or an
#   API server still writes through the old backend: each half is stale.
# custom:
#   id: ETCD-K8S-001
#   impact: 0.9
#   scope: member
#   tags: [kubernetes, data, v2]
#   remediation: migrate-v2-to-v3
#   refs: ["https://etcd.io/docs/v3.4/op-guide/v2-migration/", "https://github.com/kubernetes/kubernetes/issues/58002"]
#   needs: [backend]
package etcdaudit.controls.k8s.split

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.v2

deny contains msg if {
	input.member.backend.observed == "mixed"
	msg := sprintf("Kubernetes data in both stores: %s v2 keys and %s v3 keys under /registry; find which API servers still use --storage-backend=etcd2 and stop them, decide which copy is current (a v2 copy must not overwrite newer v3 keys), finish the v2 -> v3 migration (%s), then %s%s", [v2_count, v3_count, v2.copy(version), v2.delete(version), remediate.hint("migrate-v2-to-v3")])
}

# The steps depend on the member's version (lib_v2); unknown: every way.
version := v if {
	v := input.member.version.server
} else := ""

# Read field by field so the verdict depends on narrow values only.
v2_count := sprintf("%d", [input.member.v2.registry_keys]) if {
	input.member.v2.registry_keys
} else := "some"

v3_count := sprintf("%d", [input.member.v3.registry_keys]) if {
	input.member.v3.registry_keys
} else := "some"

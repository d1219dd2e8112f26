# METADATA
# title: Kubernetes storage backend is etcd3
# description: >-
#   The Kubernetes data lives in the v3 store (the backend
#   data.etcdaudit.baseline.required_backend requires). The etcd2 backend was
#   deprecated in Kubernetes 1.9 and removed in 1.13; its data also blocks
#   etcd 3.6.
# custom:
#   id: ETCD-K8S-002
#   impact: 0.8
#   scope: member
#   tags: [kubernetes, data, v2, upgrade]
#   remediation: migrate-v2-to-v3
#   refs: ["https://kubernetes.io/docs/tasks/administer-cluster/configure-upgrade-etcd/", "https://etcd.io/docs/v3.4/op-guide/v2-migration/"]
#   needs: [backend]
package etcdaudit.controls.k8s.backend

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.v2

required := data.etcdaudit.baseline.required_backend

# The steps depend on the member's version (lib_v2): `etcdctl migrate`
# exists only in 3.0–3.4. An unknown version gets every version's way.
version := v if {
	v := input.member.version.server
} else := ""

migrate_to_v3 if {
	input.member.backend.observed in {"etcd2", "mixed"}
	required == "etcd3"
}

deny contains msg if {
	migrate_to_v3
	observed := input.member.backend.observed
	msg := sprintf("Kubernetes storage backend observed %s, required etcd3: stop the API servers; %s; attach leases to events keys; switch --storage-backend to etcd3; then %s%s", [observed, v2.copy(version), v2.delete(version), remediate.hint("migrate-v2-to-v3")])
}

deny contains msg if {
	observed := input.member.backend.observed
	observed != required
	observed != "none"
	not migrate_to_v3
	msg := sprintf("Kubernetes storage backend observed %s, required %s", [observed, required])
}

skip contains "no Kubernetes data (/registry) in either store: not a Kubernetes etcd, or the registry prefix differs" if {
	input.member.backend.observed == "none"
}

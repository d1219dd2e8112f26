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

required := data.etcdaudit.baseline.required_backend

deny contains msg if {
	observed := input.member.backend.observed
	observed in {"etcd2", "mixed"}
	observed != required
	msg := sprintf("Kubernetes storage backend observed %s, required %s: stop the API servers, migrate /registry to v3 (etcdctl migrate on 3.0–3.4), attach leases to events keys, switch --storage-backend to %s, then delete the v2 data", [observed, required, required])
}

deny contains msg if {
	observed := input.member.backend.observed
	observed == "etcd3"
	observed != required
	msg := sprintf("Kubernetes storage backend observed %s, required %s", [observed, required])
}

skip contains "no Kubernetes data (/registry) in either store: not a Kubernetes etcd, or the registry prefix differs" if {
	input.member.backend.observed == "none"
}

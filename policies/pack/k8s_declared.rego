# METADATA
# title: Observed Kubernetes backend equals the declared one
# description: >-
#   The backend the inventory declares (kubernetes_backend) is where the
#   data actually is. A mismatch means the operator's picture is wrong — the
#   seed's team learned what ran only by logging into every machine.
# custom:
#   id: ETCD-K8S-003
#   impact: 0.5
#   scope: member
#   tags: [kubernetes, inventory]
#   remediation: none
#   refs: ["https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/"]
#   needs: [backend]
package etcdaudit.controls.k8s.declared

# Read as a field (not object.get on the whole cluster) so the verdict
# depends on two narrow values only and is memoized across members.
declared := d if {
	d := input.cluster.declared_backend
} else := ""

deny contains msg if {
	declared != ""
	observed := input.member.backend.observed
	observed != declared
	msg := sprintf("inventory declares kubernetes_backend %s but the data says %s%s", [declared, observed, hint(observed)])
}

hint("none") := ": no /registry keys in either store (wrong cluster, or a different registry prefix?)"

hint("mixed") := ": /registry keys exist in both v2 and v3"

hint(o) := "; correct the inventory or the API servers' --storage-backend" if not o in {"none", "mixed"}

skip contains "the inventory declares no kubernetes_backend for this cluster" if declared == ""

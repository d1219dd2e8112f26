# METADATA
# title: Events keys carry leases
# description: >-
#   Kubernetes writes every event with a lease (--event-ttl, 1h by default)
#   so it expires. `etcdctl migrate` copied v2 TTL keys to v3 without
#   leases: such events never expire and the keyspace grows until NOSPACE.
#   The share of events keys with a live lease must reach
#   data.etcdaudit.baseline.lease_coverage_min.
# custom:
#   id: ETCD-K8S-004
#   impact: 0.7
#   scope: cluster
#   tags: [kubernetes, data, leases]
#   remediation: attach-event-leases
#   refs: ["https://github.com/etcd-io/etcd/issues/8305", "https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/storage/etcd3/lease_manager.go"]
#   needs: [event_leases]
package etcdaudit.controls.k8s.event_leases

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.versions

cov := input.cluster.event_leases

deny contains msg if {
	cov.keys > 0
	want := data.etcdaudit.baseline.lease_coverage_min
	cov.ratio < want
	msg := sprintf("%d of %d events keys under %s carry no lease (coverage %s%%, minimum %s%%)%s: they never expire; attach leases in TTL buckets, re-putting each key with a compare on its mod revision%s", [cov.unleased, cov.keys, cov.prefix, versions.num(cov.ratio * 100), versions.num(want * 100), sample(cov), remediate.hint("attach-event-leases")])
}

sample(c) := sprintf(", e.g. %s", [concat(", ", array.slice(c.sample_no_lease, 0, 3))]) if {
	count(c.sample_no_lease) > 0
} else := ""

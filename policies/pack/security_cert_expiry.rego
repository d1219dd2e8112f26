# METADATA
# title: Server certificate valid for more than the threshold
# description: >-
#   The client-facing server certificate stays valid for more than
#   data.etcdaudit.baseline.cert_expiry_days (days left counted when the facts
#   were collected). An expired certificate takes the whole cluster's
#   clients down at once.
# custom:
#   id: ETCD-SEC-003
#   impact: 0.8
#   scope: member
#   tags: [security, tls]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/security/"]
#   needs: [security]
package etcdaudit.controls.security.cert_expiry

import data.etcdaudit.lib.versions

# This control runs for every member: its rules read input and data
# directly, with no helper rule on the path of a passing member, and the
# test that rejects most members comes first (comparing a fractional day
# count is not cheap in OPA) (README, Performance).

deny contains msg if {
	s := input.member.security
	d := s.cert_days_left
	d < 0
	msg := sprintf("server certificate (%s) expired on %s, %s days ago: clients verifying it cannot connect; rotate it now", [object.get(s, "cert_subject", "?"), s.cert_not_after, versions.num(0 - d)])
}

deny contains msg if {
	s := input.member.security
	d := s.cert_days_left
	limit := data.etcdaudit.baseline.cert_expiry_days
	d <= limit
	d >= 0
	msg := sprintf("server certificate (%s) expires on %s, in %s days (threshold %d): rotate it", [object.get(s, "cert_subject", "?"), s.cert_not_after, versions.num(d), limit])
}

skip contains "plain http: no server certificate" if input.member.security.scheme != "https"

skip contains "TLS endpoint but no certificate expiry recorded" if {
	input.member.security.scheme == "https"
	not input.member.security.cert_days_left
}

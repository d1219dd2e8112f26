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

# The expiry date and subject only decorate the messages: facts that carry
# the days left without them (an older collector, a hand-written facts
# file) still fail.
deny contains msg if {
	s := input.member.security
	s.cert_days_left < 0
	msg := sprintf("server certificate (%s) expired on %s, %s days ago: clients verifying it cannot connect; rotate it now", [object.get(s, "cert_subject", "?"), object.get(s, "cert_not_after", "an unrecorded date"), versions.num(0 - s.cert_days_left)])
}

deny contains msg if {
	s := input.member.security
	s.cert_days_left >= 0
	s.cert_days_left <= data.etcdaudit.baseline.cert_expiry_days
	msg := sprintf("server certificate (%s) expires on %s, in %s days (threshold %d): rotate it", [object.get(s, "cert_subject", "?"), object.get(s, "cert_not_after", "an unrecorded date"), versions.num(s.cert_days_left), data.etcdaudit.baseline.cert_expiry_days])
}

skip contains "plain http: no server certificate" if input.member.security.scheme != "https"

skip contains "TLS endpoint but no certificate expiry recorded" if {
	input.member.security.scheme == "https"
	not input.member.security.cert_days_left
}

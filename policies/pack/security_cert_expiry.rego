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

# This control runs for every member: one deny body and one comparison
# for a passing member (a fractional day count compares through OPA's
# exact rational maths, so each comparison counts; docs/performance.md).
# A certificate fails when expired (days < 0) or when 0 <= days <=
# cert_expiry_days; bound is the largest day count that can fail, so
# days <= bound lets through exactly the members the message rules judge
# (bound is 0 for a negative threshold, where only expired ones fail, and
# the message rules then leave 0 days unjudged).

bound := limit if {
	limit := data.etcdaudit.baseline.cert_expiry_days
	limit >= 0
} else := 0

deny contains msg if {
	s := input.member.security
	d := s.cert_days_left
	d <= bound
	msg := message(s, d)
}

# The expiry date and subject only decorate the message: facts that carry
# the days left without them (an older collector, a hand-written facts
# file) must still fail, not pass for want of a message.
message(s, d) := sprintf("server certificate (%s) expired on %s, %s days ago: clients verifying it cannot connect; rotate it now", [object.get(s, "cert_subject", "?"), object.get(s, "cert_not_after", "an unrecorded date"), versions.num(0 - d)]) if {
	d < 0
} else := sprintf("server certificate (%s) expires on %s, in %s days (threshold %d): rotate it", [object.get(s, "cert_subject", "?"), object.get(s, "cert_not_after", "an unrecorded date"), versions.num(d), limit]) if {
	limit := data.etcdaudit.baseline.cert_expiry_days
	d <= limit
	d >= 0
}

skip contains "plain http: no server certificate" if input.member.security.scheme != "https"

skip contains "TLS endpoint but no certificate expiry recorded" if {
	input.member.security.scheme == "https"
	not input.member.security.cert_days_left
}

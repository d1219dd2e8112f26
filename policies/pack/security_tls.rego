# METADATA
# title: TLS on client endpoints
# description: >-
#   The member's client endpoint speaks TLS. Over plain http every key,
#   value and password crosses the network in clear.
# custom:
#   id: ETCD-SEC-001
#   impact: 0.8
#   scope: member
#   tags: [security, tls]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/security/"]
#   needs: [security]
package etcdaudit.controls.security.tls

deny contains msg if {
	s := input.member.security
	s.scheme != "https"
	msg := sprintf("client endpoint %s uses %s: configure --cert-file/--key-file and serve https", [input.member.endpoint, s.scheme])
}

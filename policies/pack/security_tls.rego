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

# Reads only the scheme (not the endpoint, the result names the member) so
# the verdict is shared by every member with the same scheme.
deny contains msg if {
	scheme := input.member.security.scheme
	scheme != "https"
	msg := sprintf("the client endpoint uses %s: configure --cert-file/--key-file and serve https", [scheme])
}

# METADATA
# title: Client certificate authentication or etcd auth enabled
# description: >-
#   A client must prove who it is: the server requires a client certificate
#   (--client-cert-auth) or etcd authentication is on. Otherwise anyone who
#   reaches the port reads and writes everything, Kubernetes secrets included.
# custom:
#   id: ETCD-SEC-002
#   impact: 0.9
#   scope: member
#   tags: [security, auth]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/op-guide/authentication/", "https://etcd.io/docs/v3.5/op-guide/security/"]
#   needs: [security]
package etcdaudit.controls.security.authn

# Fields are read one by one (never the whole security object, whose
# certificate dates differ per member) so verdicts are shared.
cert_required if input.member.security.client_cert_required == true

auth_on if input.member.security.auth_enabled == true

no_cert if input.member.security.client_cert_required == false

no_cert if input.member.security.scheme != "https"

open_door if {
	not cert_required
	not auth_on
	input.member.security.auth_enabled == false
	no_cert
}

why := "plain http (no client certificate possible)" if {
	input.member.security.scheme != "https"
} else := "the server accepts clients without a certificate"

deny contains msg if {
	open_door
	msg := sprintf("no client authentication: %s and etcd auth is off; serve TLS with --client-cert-auth and a trusted CA, or `etcdctl auth enable`", [why])
}

skip contains msg if {
	not cert_required
	not auth_on
	not open_door
	input.member.security.scheme
	msg := sprintf("could not tell: client certificate required %s, auth enabled %s", [cert_text, auth_text])
}

cert_text := sprintf("%v", [input.member.security.client_cert_required]) if {
	is_boolean(input.member.security.client_cert_required)
} else := "unknown"

auth_text := sprintf("%v", [input.member.security.auth_enabled]) if {
	is_boolean(input.member.security.auth_enabled)
} else := "unknown"

package etcdtest

import (
	"time"

	"github.com/etcdaudit/etcdaudit/internal/pki"
)

// TLSFiles are the PEM files of a WithTLS cluster, generated at test time.
// The client certificate's CN is "etcdaudit-client", not "root": etcd maps a
// client certificate's CN to a user when auth is on, and a CN of root would
// let a password-less client in.
type TLSFiles = pki.Files

// ClientCN is the common name of the generated client certificate.
const ClientCN = "etcdaudit-client"

// generateTLS writes a CA, a server certificate for 127.0.0.1/localhost
// (which also carries ClientAuth: etcd's gRPC gateway dials the server with
// it when client-cert-auth is on) and a client certificate into dir, valid
// for a day: what a test cluster needs, and what the certificate-expiry
// control flags.
func generateTLS(dir string) (*TLSFiles, error) {
	return pki.Generate(dir, pki.Options{ClientCN: ClientCN, Validity: 24 * time.Hour})
}

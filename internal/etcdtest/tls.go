package etcdtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/pki"
)

// TLSFiles are the PEM files of a WithTLS cluster, generated at test time.
// The client certificate's CN is "etcdaudit-client", not "root": etcd maps a
// client certificate's CN to a user when auth is on, and a CN of root would
// let a password-less client in.
type TLSFiles struct {
	CA         string
	ServerCert string
	ServerKey  string
	ClientCert string
	ClientKey  string
	Dir        string
}

// ClientCN is the common name of the generated client certificate.
const ClientCN = "etcdaudit-client"

// generateTLS writes a CA, a server certificate for 127.0.0.1/localhost
// (which also carries ClientAuth: etcd's gRPC gateway dials the server with
// it when client-cert-auth is on) and a client certificate into dir, valid
// for a day: what a test cluster needs, and what the certificate-expiry
// control flags.
func generateTLS(dir string) (*TLSFiles, error) {
	p, err := pki.Generate(dir, pki.Options{ClientCN: ClientCN, Validity: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	return &TLSFiles{
		CA: p.CA, ServerCert: p.ServerCert, ServerKey: p.ServerKey,
		ClientCert: p.ClientCert, ClientKey: p.ClientKey, Dir: p.Dir,
	}, nil
}

// ClientTLS returns a client tls.Config trusting the CA, with the client
// certificate when withCert is true (false builds the "client without a
// certificate" tests need).
func (f *TLSFiles) ClientTLS(withCert bool) (*tls.Config, error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", f.CA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA %s: no certificate", f.CA)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

package inventory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
)

// The files an inventory points at (CA, client certificate and key,
// password file) are read through inputfile: regular files of at most
// inputfile.PEM bytes, so a FIFO or /dev/zero named by mistake or malice is
// refused at once instead of hanging or filling memory.

func readPEM(ctx context.Context, path string) ([]byte, error) {
	return inputfile.Read(ctx, path, inputfile.PEM)
}

// loadCA returns a pool of the certificates in the PEM file at path.
func loadCA(ctx context.Context, path string) (*x509.CertPool, error) {
	b, err := readPEM(ctx, path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// loadKeyPair is tls.LoadX509KeyPair through readPEM. Its errors name the
// files and never hold key bytes.
func loadKeyPair(ctx context.Context, cert, key string) (tls.Certificate, error) {
	c, err := readPEM(ctx, cert)
	if err != nil {
		return tls.Certificate{}, err
	}
	k, err := readPEM(ctx, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(c, k)
}

// checkFile says whether path can be read as an input file now.
func checkFile(ctx context.Context, path string) error {
	f, err := inputfile.Open(ctx, path, inputfile.PEM)
	if err != nil {
		return err
	}
	return f.Close()
}

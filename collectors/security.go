package collectors

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func securityCollector() Registration {
	return Registration{
		Name:      "security",
		Scope:     ScopeMember,
		Help:      "wire security: scheme, TLS version, server certificate expiry and SANs, client certificate required, etcd auth enabled",
		Collector: CollectorFunc(collectSecurity),
	}
}

// collectSecurity looks at the member the way an attacker on the network
// would: one TLS handshake to read the certificate, one request without a
// client certificate, and one v3 read without credentials.
func collectSecurity(ctx context.Context, t *Target) error {
	m := t.Member
	u, err := url.Parse(m.Endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", redactURL(m.Endpoint), err)
	}
	f := &SecurityFacts{Scheme: strings.ToLower(u.Scheme)}
	var errs []error
	if f.Scheme == "https" {
		if err := inspectTLS(ctx, t, u, f); err != nil {
			errs = append(errs, err)
		}
	}
	auth, err := authEnabled(ctx, t)
	switch {
	case errors.Is(err, ErrNotSupported):
		// A learner cannot be asked; AuthEnabled stays unknown (nil).
	case err != nil:
		errs = append(errs, err)
	default:
		f.AuthEnabled = &auth
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m.Facts.Security = f
	return nil
}

func inspectTLS(ctx context.Context, t *Target, u *url.URL, f *SecurityFacts) error {
	conf := baseTLS(t, u)
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: conf}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fmt.Errorf("TLS handshake with %s: %w", u.Host, err)
	}
	st := c.(*tls.Conn).ConnectionState()
	c.Close()
	f.TLSVersion = tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		na := cert.NotAfter.UTC()
		days := math.Round(time.Until(na).Hours()/24*10) / 10
		f.CertNotAfter, f.CertDaysLeft = &na, &days
		f.CertSANs = certSANs(cert)
		f.CertSubject = cert.Subject.String()
	}
	required, err := clientCertRequired(ctx, t, u)
	if err != nil {
		return err
	}
	f.ClientCertRequired = required
	return nil
}

// baseTLS is the cluster's TLS config for this host; with no TLS configured
// (an https endpoint in an inventory without a CA) the system roots apply.
func baseTLS(t *Target, u *url.URL) *tls.Config {
	var conf *tls.Config
	if t.Member.Conn != nil && t.Member.Conn.TLS != nil {
		conf = t.Member.Conn.TLS.Clone()
	} else {
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if conf.ServerName == "" {
		conf.ServerName = u.Hostname()
	}
	return conf
}

func certSANs(c *x509.Certificate) []string {
	var sans []string
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	for _, e := range c.EmailAddresses {
		sans = append(sans, "email:"+e)
	}
	for _, uri := range c.URIs {
		sans = append(sans, uri.String())
	}
	slices.Sort(sans)
	return sans
}

// clientCertRequired sends GET /version with no client certificate. With
// TLS 1.3 the server's refusal arrives after the handshake, so a whole
// request is needed to see it. nil means it could not be told.
func clientCertRequired(ctx context.Context, t *Target, u *url.URL) (*bool, error) {
	conf := baseTLS(t, u)
	conf.Certificates, conf.GetClientCertificate = nil, nil
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u.String(), "/")+"/version", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
		no := false
		return &no, nil
	}
	if isClientCertRefusal(err) {
		yes := true
		return &yes, nil
	}
	return nil, fmt.Errorf("probe without a client certificate: %w", err)
}

func isClientCertRefusal(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	s := err.Error()
	for _, frag := range []string{"certificate required", "bad certificate", "unknown certificate", "handshake failure", "connection reset by peer", "EOF"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}

// authEnabled asks Authenticate for a user that does not exist, with a
// random password: etcd answers "authentication is not enabled" or
// "authentication failed" after checking the password and before any raft
// proposal. A plain read cannot tell: with --client-cert-auth the client
// certificate's CN logs the auditor in, and AuthStatus is itself a raft
// proposal on 3.5+ (3.4 lacks it); a scan must write nothing.
func authEnabled(ctx context.Context, t *Target) (bool, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	_, err := pb.NewAuthClient(t.Member.Client.ActiveConnection()).Authenticate(ctx, &pb.AuthenticateRequest{
		Name:     "etcdaudit-auth-probe-" + hex.EncodeToString(rnd[:4]),
		Password: hex.EncodeToString(rnd[4:]),
	})
	err = rpctypes.Error(err)
	switch {
	case errors.Is(err, rpctypes.ErrAuthNotEnabled):
		return false, nil
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return true, nil
	case err == nil:
		return false, errors.New("auth probe: a made-up user was let in")
	default:
		return false, fmt.Errorf("auth probe (Authenticate as a made-up user): %w", rpcError(ctx, err))
	}
}

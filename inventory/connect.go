package inventory

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Conn is everything needed to talk to one cluster: TLS material loaded and
// checked once, the password resolved once, and the timeouts. It holds the
// password, so it redacts itself in String, JSON and slog output.
type Conn struct {
	Cluster string
	// TLS is nil when the cluster is plain http and no TLS file is set.
	TLS            *tls.Config
	User           string
	password       string
	DialTimeout    time.Duration
	CommandTimeout time.Duration
	// KeyspaceTimeout bounds one keyspace walk (see Collect).
	KeyspaceTimeout time.Duration
	// KeepAliveTimeout is how long a gRPC keepalive ping may go unanswered
	// before the connection is declared dead (a hung member).
	KeepAliveTimeout time.Duration
	tokens           *tokenCache // see auth.go
	// http is the one HTTP client of the Conn (see HTTPClient); nil in a
	// Conn not made by Connect.
	http *http.Client
}

// Connect prepares the connection options of a cluster. It reads the TLS
// files and the password now, so a misconfiguration is one clear error before
// any network call, naming the file or variable but never the secret.
func Connect(c Cluster) (*Conn, error) {
	conn := &Conn{
		Cluster:          c.Name,
		User:             c.Auth.User,
		DialTimeout:      orDefault(c.Collect.DialTimeout, DefaultDialTimeout),
		CommandTimeout:   orDefault(c.Collect.CommandTimeout, DefaultCommandTimeout),
		KeyspaceTimeout:  orDefault(c.Collect.KeyspaceTimeout, DefaultKeyspaceTimeout),
		KeepAliveTimeout: orDefault(c.Collect.CommandTimeout, DefaultCommandTimeout),
		tokens:           newTokenCache(),
	}
	tlsConf, err := loadTLS(c)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	conn.TLS = tlsConf
	conn.http = conn.newHTTPClient()
	if c.Auth.User != "" {
		pw, err := readPassword(c.Auth)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: auth: %w", c.Name, err)
		}
		conn.password = pw
	}
	return conn, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// needsTLS is true when any endpoint is https or any TLS option is set: a
// CA file on an http cluster is a mistake the first https endpoint would hit.
func needsTLS(c Cluster) bool {
	if c.TLS.CA != "" || c.TLS.Cert != "" || c.TLS.Key != "" || c.TLS.ServerName != "" || c.TLS.InsecureSkipVerify {
		return true
	}
	for _, ep := range c.Endpoints {
		if strings.HasPrefix(strings.ToLower(ep), "https://") {
			return true
		}
	}
	return false
}

func loadTLS(c Cluster) (*tls.Config, error) {
	if !needsTLS(c) {
		return nil, nil
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLS.ServerName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // only when the operator asks, as etcdctl does
	}
	if c.TLS.CA != "" {
		pool, err := loadCA(context.Background(), c.TLS.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		conf.RootCAs = pool
	}
	switch {
	case c.TLS.Cert != "" && c.TLS.Key == "":
		return nil, fmt.Errorf("tls.cert %s is set without tls.key", c.TLS.Cert)
	case c.TLS.Key != "" && c.TLS.Cert == "":
		return nil, fmt.Errorf("tls.key %s is set without tls.cert", c.TLS.Key)
	case c.TLS.Cert != "":
		pair, err := loadKeyPair(context.Background(), c.TLS.Cert, c.TLS.Key)
		if err != nil {
			// tls's messages name neither file; never include key bytes.
			return nil, fmt.Errorf("tls.cert %s / tls.key %s: %w", c.TLS.Cert, c.TLS.Key, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// readPassword resolves the password reference. A trailing newline (what
// `echo pw > file` and most secret mounts leave) is not part of the password.
func readPassword(a Auth) (string, error) {
	var pw, from string
	switch {
	case a.PasswordEnv != "":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password_env: environment variable %s is not set", a.PasswordEnv)
		}
		pw, from = v, "environment variable "+a.PasswordEnv
	case a.PasswordFile != "":
		b, err := readPEM(context.Background(), a.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		pw, from = string(b), "password file "+a.PasswordFile
	case a.password != "":
		pw, from = a.password, "--password"
	default:
		return "", fmt.Errorf("user %s has no password: set password_env or password_file", a.User)
	}
	pw = strings.TrimSuffix(strings.TrimSuffix(pw, "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", from)
	}
	return pw, nil
}

// Credentials returns the user and password, for the few callers (the v2
// keys API's basic auth) that must send them themselves.
func (c *Conn) Credentials() (user, password string) { return c.User, c.password }

// ClientConfig is the clientv3 configuration for the given endpoints. The
// client's own zap logs are silenced: etcd's client logs every retry, which is
// noise in a tool that reports errors itself. Callers pass their context to
// each RPC; Config.Context is left unset so Close is the only way to end it.
// With a user, every client of this Conn shares one auth token (auth.go):
// Username and Password stay empty so clientv3 never authenticates itself.
func (c *Conn) ClientConfig(endpoints []string) clientv3.Config {
	cfg := c.plainConfig(endpoints)
	switch {
	case c.User != "" && c.tokens != nil:
		cfg.DialOptions = append(cfg.DialOptions,
			grpc.WithPerRPCCredentials(tokenCreds{conn: c, endpoints: cfg.Endpoints}),
			grpc.WithChainUnaryInterceptor(c.renewToken))
	case c.User != "": // a Conn not made by Connect
		cfg.Username, cfg.Password = c.User, c.password
	}
	return cfg
}

// plainConfig is ClientConfig without credentials.
func (c *Conn) plainConfig(endpoints []string) clientv3.Config {
	return clientv3.Config{
		Endpoints:   append([]string(nil), endpoints...),
		DialTimeout: c.DialTimeout,
		// grpc-go raises a keepalive time under 10s to 10s anyway, and etcd
		// answers pings more frequent than its 5s minimum with GOAWAY.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: c.KeepAliveTimeout,
		TLS:                  c.TLS,
		Logger:               zap.NewNop(),
		// Retries mostly hide a failing member, which the auditor must report
		// within one command timeout.
		MaxUnaryRetries: 2,
	}
}

// HTTPClient is the Conn's HTTP client with the cluster's TLS, for /version,
// /metrics and the v2 keys API. Every caller of one Conn gets the same client,
// so discovery's GET /version and the collectors' requests to a member share
// one kept-alive connection (and one TLS handshake) instead of one each; the
// last user calls CloseIdleConnections. It has no overall timeout: every
// request must carry a context with a deadline. Redirects are followed only to
// the same host, so a hostile endpoint cannot bounce credentials or probes
// elsewhere.
func (c *Conn) HTTPClient() *http.Client {
	if c.http != nil {
		return c.http
	}
	return c.newHTTPClient() // a Conn not made by Connect
}

func (c *Conn) newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // etcd endpoints are direct; a proxy env var must not reroute audits
		TLSClientConfig:       c.TLS.Clone(),
		TLSHandshakeTimeout:   c.DialTimeout,
		ResponseHeaderTimeout: c.CommandTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     false,
	}
	tr.DialContext = dialer(c.DialTimeout).DialContext
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("stopped after 3 redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("refusing redirect from %s to another host %s", via[0].URL.Host, req.URL.Host)
			}
			return nil
		},
	}
}

// String never shows the password.
func (c *Conn) String() string {
	if c == nil {
		return "<nil>"
	}
	auth := "no auth"
	if c.User != "" {
		auth = "user " + c.User + ", password redacted"
	}
	scheme := "plain"
	if c.TLS != nil {
		scheme = "tls"
	}
	return fmt.Sprintf("conn{cluster %s, %s, %s, dial %s, command %s}", c.Cluster, scheme, auth, c.DialTimeout, c.CommandTimeout)
}

// MarshalJSON redacts the password and omits key material.
func (c *Conn) MarshalJSON() ([]byte, error) {
	v := struct {
		Cluster        string `json:"cluster"`
		TLS            bool   `json:"tls"`
		User           string `json:"user,omitempty"`
		Password       string `json:"password,omitempty"`
		DialTimeout    string `json:"dial_timeout"`
		CommandTimeout string `json:"command_timeout"`
	}{c.Cluster, c.TLS != nil, c.User, "", c.DialTimeout.String(), c.CommandTimeout.String()}
	if c.password != "" {
		v.Password = "redacted"
	}
	return json.Marshal(v)
}

// LogValue keeps the password out of slog output.
func (c *Conn) LogValue() slog.Value { return slog.StringValue(c.String()) }

func dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
}

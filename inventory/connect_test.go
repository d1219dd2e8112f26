package inventory

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "s3cr3t-Pa55"

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswordSources(t *testing.T) {
	t.Setenv("EA_PW_NL", secret+"\n")
	t.Setenv("EA_PW_EMPTY", "")
	for name, tc := range map[string]struct {
		auth    Auth
		want    string // password, or "" when an error is expected
		wantErr string
	}{
		"env, trailing newline":   {Auth{User: "u", PasswordEnv: "EA_PW_NL"}, secret, ""},
		"env unset":               {Auth{User: "u", PasswordEnv: "EA_PW_UNSET"}, "", "environment variable EA_PW_UNSET is not set"},
		"env empty":               {Auth{User: "u", PasswordEnv: "EA_PW_EMPTY"}, "", "environment variable EA_PW_EMPTY is empty"},
		"file, CRLF":              {Auth{User: "u", PasswordFile: writeFile(t, secret+"\r\n")}, secret, ""},
		"file, no newline":        {Auth{User: "u", PasswordFile: writeFile(t, secret)}, secret, ""},
		"file, inner spaces kept": {Auth{User: "u", PasswordFile: writeFile(t, " a b \n")}, " a b ", ""},
		"file missing":            {Auth{User: "u", PasswordFile: "/nonexistent/etcdaudit-pw"}, "", "password_file: open /nonexistent/etcdaudit-pw"},
		"file empty":              {Auth{User: "u", PasswordFile: writeFile(t, "\n")}, "", "is empty"},
		"flags":                   {Auth{User: "u", password: secret}, secret, ""},
		"no source":               {Auth{User: "u"}, "", "user u has no password"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := Connect(Cluster{Name: "c", Endpoints: []string{"http://127.0.0.1:2379"}, Auth: tc.auth})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatal("the secret leaked into the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u, pw := conn.Credentials(); u != "u" || pw != tc.want {
				t.Fatalf("credentials %q/%q, want u/%q", u, pw, tc.want)
			}
		})
	}
}

// TestRedaction: a Conn or Auth printed, marshalled or logged never shows
// the password.
func TestRedaction(t *testing.T) {
	c := Cluster{Name: "c", Endpoints: []string{"http://127.0.0.1:2379"}, Auth: Auth{User: "root", password: secret}}
	conn, err := Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("connecting", "conn", conn, "auth", c.Auth, "cluster", c)
	js, _ := json.Marshal(map[string]any{"conn": conn, "cluster": c})
	cfg := conn.ClientConfig(c.Endpoints)
	for what, s := range map[string]string{
		"String": conn.String(), "%+v": fmt.Sprintf("%+v %v", conn, c), "JSON": string(js), "slog": logs.String(),
		"Auth.String": c.Auth.String(), "clientv3.Config": cfg.Username + cfg.Password,
	} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the password: %s", what, s)
		}
	}
	if !strings.Contains(logs.String(), "password redacted") {
		t.Errorf("slog output should say the password is redacted: %s", logs.String())
	}
}

func TestConnectTLS(t *testing.T) {
	certs, _ := filepath.Abs(filepath.Join(testdata, "certs"))
	c := Cluster{Name: "c", Endpoints: []string{"https://10.0.0.1:2379"}, TLS: TLS{
		CA: filepath.Join(certs, "ca.pem"), Cert: filepath.Join(certs, "client.pem"), Key: filepath.Join(certs, "client-key.pem"),
		ServerName: "etcd.example"}}
	conn, err := Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	tc := conn.TLS
	if tc == nil || tc.MinVersion != tls.VersionTLS12 || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "etcd.example" || tc.InsecureSkipVerify {
		t.Fatalf("TLS config = %+v", tc)
	}

	plain, err := Connect(Cluster{Name: "p", Endpoints: []string{"http://10.0.0.1:2379"}})
	if err != nil || plain.TLS != nil {
		t.Fatalf("plain http cluster: TLS %v, err %v", plain.TLS, err)
	}
	system, err := Connect(Cluster{Name: "s", Endpoints: []string{"https://10.0.0.1:2379"}})
	if err != nil || system.TLS == nil || system.TLS.RootCAs != nil {
		t.Fatalf("https without CA must verify against system roots: %+v %v", system.TLS, err)
	}

	for name, bad := range map[string]TLS{
		"CA not PEM":       {CA: filepath.Join(certs, "not-pem.txt")},
		"CA missing":       {CA: "/nonexistent/ca.pem"},
		"key mismatch":     {Cert: filepath.Join(certs, "client.pem"), Key: filepath.Join(certs, "other-key.pem")},
		"cert without key": {Cert: filepath.Join(certs, "client.pem")},
	} {
		if _, err := Connect(Cluster{Name: "b", Endpoints: []string{"https://h:1"}, TLS: bad}); err == nil || !strings.Contains(err.Error(), "cluster b: tls.") {
			t.Errorf("%s: err = %v, want a tls.* error naming the cluster", name, err)
		}
	}
}

func TestClientConfigShape(t *testing.T) {
	c := Cluster{Name: "c", Endpoints: []string{"http://127.0.0.1:2379"}, Auth: Auth{User: "root", password: secret},
		Collect: Collect{DialTimeout: 2 * time.Second, CommandTimeout: 7 * time.Second}}
	conn, err := Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg := conn.ClientConfig(c.Endpoints)
	if cfg.Logger == nil || cfg.DialTimeout != 2*time.Second || cfg.DialKeepAliveTimeout <= 0 || cfg.DialKeepAliveTime <= 0 {
		t.Errorf("config = %+v: want a silent logger, the dial timeout and keepalives", cfg)
	}
	if cfg.Username != "" || cfg.Password != "" || len(cfg.DialOptions) != 2 {
		t.Errorf("with a user, the token must travel as per-RPC credentials, not Username/Password (which re-authenticate per call)")
	}
	if conn.CommandTimeout != 7*time.Second {
		t.Errorf("command timeout %s", conn.CommandTimeout)
	}
	if d, _ := Connect(Cluster{Name: "d", Endpoints: c.Endpoints}); d.DialTimeout != DefaultDialTimeout || d.CommandTimeout != DefaultCommandTimeout {
		t.Errorf("defaults not applied: %s", d)
	}
}

func TestHTTPClient(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // a proxy must not reroute audits
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "other") }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/version", http.StatusFound)
		default:
			fmt.Fprint(w, `{"etcdserver":"3.5.35"}`)
		}
	}))
	defer srv.Close()
	conn, err := Connect(Cluster{Name: "h", Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	hc := conn.HTTPClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	get := func(path string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get("/here"); err != nil {
		t.Errorf("same-host redirect: %v", err)
	}
	if err := get("/away"); err == nil || !strings.Contains(err.Error(), "refusing redirect") {
		t.Errorf("redirect to another host: err = %v", err)
	}
}

// TestDiscoverZeroConn: a hand-made Conn without timeouts still gets
// deadlines (the defaults), never an already-expired context.
func TestDiscoverZeroConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "{}") }))
	defer srv.Close()
	d := Discover(context.Background(), Cluster{Name: "z", Endpoints: []string{srv.URL}}, &Conn{})
	if d.OK() || !strings.Contains(d.Error, "not an etcd endpoint: it speaks HTTP/1.1, not gRPC") {
		t.Errorf("Error = %q", d.Error)
	}
	if d := Discover(context.Background(), Cluster{Name: "n"}, nil); d.OK() {
		t.Error("nil Conn accepted")
	}
}

func TestProxyNote(t *testing.T) {
	d := Discovery{Source: "https://lb:2379", Members: []Member{{Name: "a", ClientURLs: []string{"https://10.0.0.1:2379"}}}}
	if n := proxyNote(d); !strings.Contains(n, "https://lb:2379, which no member advertises") {
		t.Errorf("note = %q", n)
	}
	d.Members[0].Reachable = true
	if n := proxyNote(d); n != "" {
		t.Errorf("a reachable member needs no note: %q", n)
	}
	d.Members[0].Reachable, d.Source = false, "https://10.0.0.1:2379"
	if n := proxyNote(d); n != "" {
		t.Errorf("the source is a member: %q", n)
	}
}

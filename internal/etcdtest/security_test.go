package etcdtest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestTLSAndAuth checks, on every version, that WithTLS refuses a client
// without a certificate and WithAuth one without a password, while the
// harness's own client gets in.
func TestTLSAndAuth(t *testing.T) {
	for _, v := range etcdtest.Versions() {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithTLS(), etcdtest.WithAuth())
			ctx := ctxT(t, time.Minute)
			if !strings.HasPrefix(c.Endpoints()[0], "https://") {
				t.Fatalf("endpoint %s is not https", c.Endpoints()[0])
			}
			if c.RootPassword == "" {
				t.Fatal("no root password")
			}
			if _, err := c.Client(t).Put(ctx, "/secure", "ok"); err != nil {
				t.Fatalf("root client with certificate: %v", err)
			}

			// No client certificate: the TLS handshake fails.
			noCert, err := c.TLS.ClientTLS(false)
			if err != nil {
				t.Fatal(err)
			}
			cfg := c.ClientConfig()
			cfg.TLS = noCert
			if err := tryGet(t, cfg); err == nil {
				t.Fatal("client without a certificate was served")
			}
			// /version over https without a certificate is refused too.
			hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}
			if resp, err := hc.Get(c.Endpoints()[0] + "/version"); err == nil {
				resp.Body.Close()
				t.Fatalf("/version without a certificate: %s", resp.Status)
			}
			resp, err := c.HTTPClient().Get(c.Endpoints()[0] + "/version")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/version with the client certificate: %v %v", resp, err)
			}
			resp.Body.Close()

			// Certificate but no user: auth refuses (the certificate's CN is
			// not a user, so it does not log the client in).
			cfg = c.ClientConfig()
			cfg.Username, cfg.Password = "", ""
			if err := tryGet(t, cfg); !errors.Is(err, rpctypes.ErrUserEmpty) && !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Fatalf("client without a password: err %v, want user empty or permission denied", err)
			}
			cfg.Username, cfg.Password = "root", "wrong"
			if err := tryGet(t, cfg); !errors.Is(err, rpctypes.ErrAuthFailed) {
				t.Fatalf("wrong password: err %v, want %v", err, rpctypes.ErrAuthFailed)
			}

			// A restart keeps TLS and auth, and readiness logs in as root.
			m := c.Members[0]
			if err := m.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := m.Start(""); err != nil {
				t.Fatalf("restart under TLS and auth: %v", err)
			}
			putRetry(t, ctx, c.Client(t), "/secure", "again")
			if err := tryGet(t, cfg); !errors.Is(err, rpctypes.ErrAuthFailed) {
				t.Fatalf("wrong password after restart: err %v", err)
			}
		})
	}
}

// tryGet dials cfg and reads one key, returning the first error.
func tryGet(t *testing.T, cfg clientv3.Config) error {
	t.Helper()
	cfg.DialTimeout = 3 * time.Second
	cfg.Logger = zap.NewNop()
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx := ctxT(t, 3*time.Second)
	_, err = cli.Get(ctx, "/secure")
	return err
}

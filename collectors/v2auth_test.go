package collectors_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// wireRecorder relays TCP to one address and keeps every byte the client
// sent, to see on the wire what a member receives.
type wireRecorder struct {
	URL string
	mu  sync.Mutex
	buf bytes.Buffer
}

func newWireRecorder(t *testing.T, target string) *wireRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &wireRecorder{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(s, io.TeeReader(c, r)); _ = s.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return r
}

func (r *wireRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *wireRecorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.buf.Bytes(), []byte(s))
}

// TestV2BasicAuthOnlyAfter401: on a 3.5 cluster with v3 auth, the v2 reads
// of a scan never carry the password while the v2 API answers anonymous
// reads; once v2 auth is on with the guest role revoked, they do (after a
// 401), and the v2 auth user and role are counted.
func TestV2BasicAuthOnlyAfter401(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2(), etcdtest.WithAuth())
	v2Put(t, c, "/registry/minions/a", "x", false, 0)
	m := c.Members[0]
	rec := newWireRecorder(t, strings.TrimPrefix(m.ClientURL, "http://"))
	// The member advertises the recorder's URL, and only that is in the
	// inventory: every request of the scan goes through it.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.StartWith("", etcdtest.WithFlags("--advertise-client-urls="+rec.URL)); err != nil {
		t.Fatal(err)
	}
	fleet := fleetFor(t, "basic", c)
	fleet.Clusters[0].Endpoints = []string{rec.URL}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("root:"+c.RootPassword))

	f := run(t, fleet, collectors.Options{})
	if v2 := member(t, f, m.Name).V2; v2 == nil || !v2.Counted || v2.Keys != 1 || !v2.AuthCounted || v2.AuthEnabled || v2.AuthUsers != 0 {
		t.Fatalf("v2 facts without v2 auth: %+v", v2)
	}
	if rec.has(basic) {
		t.Fatal("the password went to the member's v2 API, which had not asked for it")
	}

	hc := c.HTTPClient()
	for _, call := range []struct{ method, path, body string }{
		{http.MethodPut, "/v2/auth/users/root", `{"user":"root","password":"` + c.RootPassword + `"}`},
		{http.MethodPut, "/v2/auth/enable", ""},
		{http.MethodPut, "/v2/auth/roles/guest", `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`},
	} {
		req, err := http.NewRequestWithContext(t.Context(), call.method, m.ClientURL+call.path, strings.NewReader(call.body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("root", c.RootPassword) // ignored until v2 auth is on
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", call.method, call.path, resp.Status)
		}
	}
	f = run(t, fleet, collectors.Options{})
	if v2 := member(t, f, m.Name).V2; v2 == nil || v2.Keys != 1 || !v2.AuthEnabled || !v2.AuthCounted || v2.AuthUsers != 1 || v2.AuthRoles != 1 {
		t.Fatalf("v2 facts with v2 auth: %+v", v2)
	}
	if !rec.has(basic) {
		t.Error("the v2 reads were answered without basic auth: the recorder sees nothing")
	}
}

package inventory

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// eavesdropper listens on a plain-http client URL a member advertises and
// records the credentials it is sent: the auth token on any gRPC call, and
// the password of any Authenticate. It answers GET /version like etcd, and
// rejects every token as stale, so a client that trusts it logs in again on
// it — with the password.
type eavesdropper struct {
	URL string

	mu        sync.Mutex
	calls     []string // gRPC methods called
	tokens    []string
	passwords []string
}

func newEavesdropper(t *testing.T) *eavesdropper {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &eavesdropper{URL: "http://" + l.Addr().String()}
	h1, h2 := newConnListener(l.Addr()), newConnListener(l.Addr())
	go func() { // route each connection by its first bytes: HTTP/2 (gRPC) or HTTP/1
		for {
			c, err := l.Accept()
			if err != nil {
				h1.Close()
				h2.Close()
				return
			}
			go func() {
				br := bufio.NewReader(c)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				head, err := br.Peek(3)
				c.SetReadDeadline(time.Time{})
				if err != nil {
					c.Close()
					return
				}
				bc := &bufferedConn{Conn: c, r: br}
				if string(head) == "PRI" {
					h2.ch <- bc
				} else {
					h1.ch <- bc
				}
			}()
		}
	}()
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		e.mu.Lock()
		e.calls = append(e.calls, method)
		e.tokens = append(e.tokens, md.Get(rpctypes.TokenFieldNameGRPC)...)
		e.mu.Unlock()
		if strings.HasSuffix(method, "/Authenticate") {
			var req etcdserverpb.AuthenticateRequest
			if err := stream.RecvMsg(&req); err != nil {
				return err
			}
			e.mu.Lock()
			e.passwords = append(e.passwords, req.Password)
			e.mu.Unlock()
			return stream.SendMsg(&etcdserverpb.AuthenticateResponse{Header: &etcdserverpb.ResponseHeader{}, Token: "stolen"})
		}
		return rpctypes.ErrGRPCInvalidAuthToken
	}))
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"etcdserver":"3.5.35","etcdcluster":"3.5.0"}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go gs.Serve(h2)
	go hs.Serve(h1)
	t.Cleanup(func() { l.Close(); gs.Stop(); hs.Close() })
	return e
}

func (e *eavesdropper) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d gRPC calls %v, %d carrying a token, %d Authenticate with a password", len(e.calls), e.calls, len(e.tokens), len(e.passwords))
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands out connections another loop accepted.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func newConnListener(a net.Addr) *connListener {
	return &connListener{addr: a, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// TestDiscoverNeverSendsCredentialsInClearTextToAdvertisedURLs: a real etcd
// with auth on advertises, besides its inventory URL, a plain http:// URL
// the inventory does not list. Before, discovery probed it with the auth
// token on every call and, once the token was refused there, logged in on
// it with the password (observed with the check disabled: 14 gRPC calls,
// 12 carrying the token, 2 Authenticate carrying the password; the token it
// handed back then replaced the good one for the whole cluster). Now the URL
// is not probed, says why, and the member is reached on its inventory URL.
func TestDiscoverNeverSendsCredentialsInClearTextToAdvertisedURLs(t *testing.T) {
	ec := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithAuth())
	spy := newEavesdropper(t)
	m := ec.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.StartWith("", etcdtest.WithFlags("--advertise-client-urls="+m.ClientURL+","+spy.URL)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ETCDAUDIT_TEST_PW", ec.RootPassword)
	c := quickCluster("cleartext", 10*time.Second, m.ClientURL)
	c.Auth = Auth{User: "root", PasswordEnv: "ETCDAUDIT_TEST_PW"}
	d := Discover(context.Background(), c, mustConnect(t, c))
	if !d.OK() || len(d.Members) != 1 {
		t.Fatalf("discovery: %+v", d)
	}
	got := d.Members[0]
	if !strings.Contains(strings.Join(got.ClientURLs, ","), spy.URL) {
		t.Fatalf("the member does not advertise %s: %v", spy.URL, got.ClientURLs)
	}
	spy.mu.Lock()
	leaked := len(spy.calls) + len(spy.tokens) + len(spy.passwords)
	spy.mu.Unlock()
	if leaked > 0 {
		t.Errorf("the advertised http URL received %s", spy)
	}
	if !got.Reachable || got.Endpoint != m.ClientURL {
		t.Errorf("member not reached on its inventory URL: %+v", got)
	}
	var reason string
	for _, p := range got.Problems {
		if p.URL == spy.URL {
			reason = p.Reason
		}
	}
	if !strings.Contains(reason, "credentials are never sent in clear text") {
		t.Errorf("the skipped URL's reason is %q", reason)
	}

	// Named in the inventory, the same URL is the operator's choice: it is
	// probed (and here, being a fake, fails on its own).
	c.Endpoints = []string{m.ClientURL, spy.URL}
	d = Discover(context.Background(), c, mustConnect(t, c))
	if spy.String() == (&eavesdropper{}).String() {
		t.Errorf("a URL the inventory lists was not probed: %+v", d)
	}
}

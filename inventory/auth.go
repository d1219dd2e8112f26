package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// Every etcd Authenticate is a raft proposal: it appends an entry to the
// cluster's log. clientv3 authenticates once per client AND once per
// Maintenance call (Status, HashKV: its m.dial calls getToken), so an audit
// of a password-protected fleet would write several entries per member per
// scan. Instead a Conn authenticates once, caches the token (etcd replicates
// simple tokens to every member through that same raft entry; JWTs are
// stateless) and sends it with every call: one entry per cluster per run.

// tokenCache is shared by every client built from one Conn.
type tokenCache struct {
	sem  chan struct{} // a one-slot lock that respects contexts
	tok  string
	have bool
}

func newTokenCache() *tokenCache { return &tokenCache{sem: make(chan struct{}, 1)} }

// token returns the cached token, authenticating against endpoints first if
// there is none. "" means the server has auth disabled.
func (c *Conn) token(ctx context.Context, endpoints []string) (string, error) {
	tc := c.tokens
	select {
	case tc.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-tc.sem }()
	if tc.have {
		return tc.tok, nil
	}
	tok, err := c.authenticate(ctx, endpoints)
	if err != nil {
		return "", err
	}
	tc.tok, tc.have = tok, true
	return tok, nil
}

// forgetToken drops a token the server no longer accepts (expired, or the
// auth store changed since it was issued).
func (c *Conn) forgetToken() {
	tc := c.tokens
	tc.sem <- struct{}{}
	tc.have, tc.tok = false, ""
	<-tc.sem
}

func (c *Conn) authenticate(ctx context.Context, endpoints []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.CommandTimeout)
	defer cancel()
	cfg := c.plainConfig(endpoints)
	cfg.Context = ctx
	cli, err := clientv3.New(cfg)
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	defer cli.Close()
	resp, err := cli.Auth.Authenticate(ctx, c.User, c.password)
	if err != nil {
		if errors.Is(rpctypes.Error(err), rpctypes.ErrAuthNotEnabled) {
			return "", nil
		}
		return "", fmt.Errorf("authenticate as %s: %w", c.User, err)
	}
	return resp.Token, nil
}

// tokenCreds puts the Conn's token on every RPC of a client.
type tokenCreds struct {
	conn      *Conn
	endpoints []string
}

func (t tokenCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := t.conn.token(ctx, t.endpoints)
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, nil
	}
	return map[string]string{rpctypes.TokenFieldNameGRPC: tok}, nil
}

// RequireTransportSecurity is false as in etcd's own client: plain-http
// clusters with auth exist, and the choice is the operator's.
func (tokenCreds) RequireTransportSecurity() bool { return false }

// renewToken retries a call whose token the member rejected. A simple token
// exists on a member only once it has applied the Authenticate entry, so a
// member a few milliseconds behind the one that answered the login rejects
// a good token: it is asked again, briefly, before a new login (itself a
// raft entry) is paid for. A token rejected after that has expired.
func (c *Conn) renewToken(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	for wait := 20 * time.Millisecond; err != nil && staleToken(err) && wait <= 160*time.Millisecond; wait *= 2 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		err = invoker(ctx, method, req, reply, cc, opts...)
	}
	if err != nil && staleToken(err) {
		c.forgetToken()
		err = invoker(ctx, method, req, reply, cc, opts...)
	}
	return err
}

func staleToken(err error) bool {
	e := rpctypes.Error(err)
	return errors.Is(e, rpctypes.ErrInvalidAuthToken) || errors.Is(e, rpctypes.ErrAuthOldRevision)
}

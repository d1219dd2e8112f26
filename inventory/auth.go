package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	sem  chan struct{} // held while logging in: one login at a time, respecting contexts
	mu   sync.Mutex    // guards tok, have and at
	tok  string
	have bool
	at   time.Time // when tok was issued
}

func newTokenCache() *tokenCache { return &tokenCache{sem: make(chan struct{}, 1)} }

func (tc *tokenCache) cached() (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.tok, tc.have
}

// token returns the cached token, authenticating against endpoints first if
// there is none. "" means the server has auth disabled.
func (c *Conn) token(ctx context.Context, endpoints []string) (string, error) {
	tc := c.tokens
	if tok, ok := tc.cached(); ok {
		return tok, nil
	}
	select {
	case tc.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-tc.sem }()
	if tok, ok := tc.cached(); ok { // another call logged in meanwhile
		return tok, nil
	}
	tok, err := c.authenticate(ctx, endpoints)
	if err != nil {
		return "", err
	}
	tc.mu.Lock()
	tc.tok, tc.have, tc.at = tok, true, time.Now()
	tc.mu.Unlock()
	return tok, nil
}

// issuedAt says when tok was issued, if it is the cached token.
func (tc *tokenCache) issuedAt(tok string) (time.Time, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.at, tc.have && tc.tok == tok
}

// forgetToken drops a token the server no longer accepts (expired, or the
// auth store changed since it was issued), unless the cache already holds
// another one: calls that failed together with the same token then pay for
// one new login, not one each.
func (c *Conn) forgetToken(stale string) {
	tc := c.tokens
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.have && tc.tok == stale {
		tc.have, tc.tok = false, ""
	}
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
	if sent, ok := ctx.Value(sentTokenKey{}).(*string); ok {
		*sent = tok
	}
	if tok == "" {
		return nil, nil
	}
	return map[string]string{rpctypes.TokenFieldNameGRPC: tok}, nil
}

// sentTokenKey marks a call's context with where GetRequestMetadata records
// the token it sent, so renewToken forgets exactly that one.
type sentTokenKey struct{}

// RequireTransportSecurity is false as in etcd's own client: plain-http
// clusters with auth exist, and the choice is the operator's.
func (tokenCreds) RequireTransportSecurity() bool { return false }

// renewToken retries a call whose token the member rejected. A simple token
// exists on a member only once it has applied the Authenticate entry, so a
// member behind the one that answered the login rejects a good token: it is
// asked again, with backoff, before a new login (itself a raft entry) is
// paid for. A token still rejected after that has expired (simple tokens
// expire per member after --auth-token-ttl unused, JWTs after their TTL) or
// predates an auth change: it is dropped, one new login is made, and the
// call is retried the same way, since the member may not have applied that
// login yet either.
func (c *Conn) renewToken(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var sent string
	ctx = context.WithValue(ctx, sentTokenKey{}, &sent)
	call := func() error { return invoker(ctx, method, req, reply, cc, opts...) }
	err := c.retryStale(ctx, &sent, call(), call)
	if staleToken(err) {
		c.forgetToken(sent)
		err = c.retryStale(ctx, &sent, call(), call)
	}
	return err
}

// A member may apply a login this long after the member that answered it:
// on a loaded 2-core machine a follower was seen more than 300ms behind.
// Until a token is this old, its rejection is taken for lag, not expiry.
const (
	loginLag   = 3 * time.Second
	staleRetry = 300 * time.Millisecond // how long any rejected token is tried again
)

// retryStale calls again, with backoff, while the member rejects the token:
// for staleRetry, or until the token sent is loginLag old if it is newer.
// The token is looked at on every try: another call may have renewed it
// meanwhile, and the new one gets its full loginLag (forgetting it at the
// end of a window measured for the old one would pay for a second login).
func (c *Conn) retryStale(ctx context.Context, sent *string, err error, call func() error) error {
	start := time.Now()
	for wait := 20 * time.Millisecond; staleToken(err); wait = min(2*wait, 200*time.Millisecond) {
		until := start.Add(staleRetry)
		if at, ok := c.tokens.issuedAt(*sent); ok && at.Add(loginLag).After(until) {
			until = at.Add(loginLag)
		}
		if !time.Now().Before(until) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		err = call()
	}
	return err
}

// rawStaleToken is how etcd 3.4 and 3.5 answer a rejected token on the
// admin-only Maintenance calls (Hash, HashKV, Snapshot, Defragment,
// MoveLeader, Downgrade): their authMaintenanceServer returns the auth
// store's own error untranslated, so it arrives with code Unknown and the
// auth package's text instead of etcd's gRPC error
// (etcd@v3.5.35:server/etcdserver/api/v3rpc/maintenance.go isAuthenticated;
// 3.6 wraps it in togRPCError).
var rawStaleToken = map[string]bool{
	"auth: invalid auth token":        true, // auth.ErrInvalidAuthToken
	"auth: revision in header is old": true, // auth.ErrAuthOldRevision
}

func staleToken(err error) bool {
	if err == nil {
		return false
	}
	e := rpctypes.Error(err)
	return errors.Is(e, rpctypes.ErrInvalidAuthToken) || errors.Is(e, rpctypes.ErrAuthOldRevision) ||
		rawStaleToken[rpctypes.ErrorDesc(err)]
}

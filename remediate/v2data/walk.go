// Package v2data holds the building blocks of the migrate-v2-to-v3 and
// cleanup-v2 actions: a streaming dump of the v2 store (the verified v2
// backup), a conflict check, a guarded copy of v2 keys into v3 with TTLs as
// leases, a key-by-key verification, the deletion of the migrated v2 data
// with the checks 3.6 needs before it starts, and rollback helpers.
//
// `etcdctl migrate` is gone since 3.5, so the copy goes through the APIs
// while the cluster stays up. The v2 side speaks go.etcd.io/etcd/client/v2.
// It never sends a quorum read and never calls /health: on 3.4 and on 3.5
// with --enable-v2 both append v2 entries to the raft log, and those make
// 3.6 panic ("detected disallowed v2 WAL").
package v2data

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	client "go.etcd.io/etcd/client/v2"
)

// DefaultTimeout bounds each request unless an Options says otherwise.
const DefaultTimeout = 30 * time.Second

// NewKeysAPI returns a v2 keys client for endpoints (client URLs of 3.4 or
// 3.5 members serving --enable-v2). tr carries TLS (nil: a plain
// http.Transport); every request is bounded by timeout (0: DefaultTimeout).
func NewKeysAPI(endpoints []string, tr *http.Transport, timeout time.Duration) (client.KeysAPI, error) {
	return NewKeysAPIAs(endpoints, tr, timeout, "", "")
}

// NewKeysAPIAs is NewKeysAPI for a cluster with v2 auth on: every request
// carries user and password as HTTP basic auth (v2 has no tokens).
func NewKeysAPIAs(endpoints []string, tr *http.Transport, timeout time.Duration, user, password string) (client.KeysAPI, error) {
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c, err := client.New(client.Config{Endpoints: endpoints, Transport: tr, HeaderTimeoutPerRequest: timeout, Username: user, Password: password})
	if err != nil {
		return nil, fmt.Errorf("v2 client for %v: %w", endpoints, err)
	}
	return client.NewKeysAPI(c), nil
}

// cleanPrefix turns a user's prefix ("/registry", "registry/") into the v2
// directory or key it names ("/registry").
func cleanPrefix(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("empty prefix")
	}
	return path.Clean("/" + p), nil
}

// v3Prefix is the v3 range a v2 prefix maps to: its children ("/registry/").
// The key itself ("/registry") is checked on its own.
func v3Prefix(p string) string {
	if p == "/" {
		return "/"
	}
	return p + "/"
}

// walk visits every node under prefix in key order, a directory before its
// children, reading one directory at a time (the v2 API has no paging: one
// level per request keeps memory to the largest directory rather than the
// whole tree). Reads are not quorum reads (see the package doc). A prefix
// that does not exist is no error: there is nothing to visit.
func walk(ctx context.Context, kapi client.KeysAPI, prefix string, timeout time.Duration, visit func(*client.Node) error) error {
	var dir func(key string) error
	dir = func(key string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := kapi.Get(rctx, key, &client.GetOptions{Sort: true})
		cancel()
		if err != nil {
			if client.IsKeyNotFound(err) {
				return nil // gone meanwhile (a TTL expired), or never there
			}
			return fmt.Errorf("v2 get %q: %w", key, err)
		}
		n := resp.Node
		if key == "/" || !n.Dir {
			if key != "/" {
				if err := visit(n); err != nil {
					return err
				}
			}
			if !n.Dir {
				return nil
			}
		} else if err := visit(n); err != nil {
			return err
		}
		children := n.Nodes
		n.Nodes = nil
		for _, c := range children {
			if c.Dir {
				if err := dir(c.Key); err != nil {
					return err
				}
				continue
			}
			if err := visit(c); err != nil {
				return err
			}
		}
		return nil
	}
	return dir(prefix)
}

// remainingTTL is how long a v2 node has left, from its expiration when the
// server sent one (more precise than its whole-second TTL).
func remainingTTL(n *client.Node, now time.Time) time.Duration {
	if n.Expiration != nil {
		return n.Expiration.Sub(now)
	}
	return time.Duration(n.TTL) * time.Second
}

func hasTTL(n *client.Node) bool { return n.Expiration != nil || n.TTL != 0 }

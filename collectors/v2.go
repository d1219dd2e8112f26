package collectors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

func v2Collector() Registration {
	return Registration{
		Name:      "v2",
		Scope:     ScopeMember,
		Help:      "whether the v2 keys API is on, and whether Kubernetes' /registry is in it (no walk: see v2_count)",
		Collector: CollectorFunc(collectV2),
	}
}

// v2 reads always pass quorum=false: a quorum v2 GET is a raft entry (QGET),
// the kind 3.6 refuses to replay.
const v2Query = "quorum=false"

// v2Error is the v2 keys API's JSON error body.
type v2Error struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
}

// v2KeyNotFound is etcd's v2 error code 100.
const v2KeyNotFound = 100

// collectV2 distinguishes "disabled" from "enabled and empty": on 3.4–3.5
// without --enable-v2, /v2/keys is a plain 404 page, while an enabled store
// answers JSON even when empty. 3.6 removed the API.
func collectV2(ctx context.Context, t *Target) error {
	m := t.Member
	if v := m.Facts.Version; v != nil && etcdversion.AtLeast(v.Server, 3, 6) {
		m.Facts.V2 = &V2Facts{Enabled: false}
		return nil
	}
	// One request answers both questions: the registry directory is there
	// (200), the store is on but has no registry (404 with v2 error 100),
	// or the v2 API is off (a plain 404 page).
	key := strings.TrimSuffix(t.Cluster.registryPrefix(), "/")
	body, code, err := v2Get(ctx, t, key, "")
	if err != nil {
		return err
	}
	f := &V2Facts{}
	switch code {
	case http.StatusOK:
		f.Enabled, f.RegistryPresent = true, true
	case http.StatusNotFound:
		var e v2Error
		if json.Unmarshal(body, &e) == nil && e.ErrorCode == v2KeyNotFound {
			f.Enabled = true
		}
	default:
		return fmt.Errorf("GET /v2/keys%s: HTTP %d: %s", key, code, snippet(body))
	}
	m.Facts.V2 = f
	return nil
}

func v2Get(ctx context.Context, t *Target, key, extra string) ([]byte, int, error) {
	u := v2URL(t, key, extra)
	resp, err := v2Do(ctx, t, u)
	if err != nil {
		return nil, 0, err
	}
	return readBody(resp, u)
}

// v2Do GETs a v2 URL. The v2 API has its own auth (`etcdctl --api=2 auth
// enable`), separate from v3's; with it on and the guest role revoked, a
// read answers 401. Only then is the request made again with the cluster's
// user and password as HTTP basic auth (v2 has no tokens), so a cluster
// without v2 auth never receives the password on its v2 port. The member's
// URL passed discovery, which never probes a plain http URL the inventory
// does not list when the cluster has credentials.
func v2Do(ctx context.Context, t *Target, u string) (*http.Response, error) {
	get := func(user, password string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := t.Member.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
		}
		return resp, nil
	}
	resp, err := get("", "")
	if err != nil || resp.StatusCode != http.StatusUnauthorized || t.Member.Conn == nil {
		return resp, err
	}
	user, password := t.Member.Conn.Credentials()
	if user == "" {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return get(user, password)
}

func v2URL(t *Target, key, extra string) string {
	if !strings.HasPrefix(key, "/") {
		key = "/" + key
	}
	u := strings.TrimSuffix(t.Member.Endpoint, "/") + "/v2/keys" + (&url.URL{Path: key}).EscapedPath() + "?" + v2Query
	if extra != "" {
		u += "&" + extra
	}
	return u
}

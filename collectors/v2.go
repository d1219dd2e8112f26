package collectors

import (
	"context"
	"encoding/json"
	"fmt"
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
	return httpGet(ctx, t.Member.HTTP, v2URL(t, key, extra))
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

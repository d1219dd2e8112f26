package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// maxHTTPBody bounds what a member may send back to an HTTP probe: a hostile
// or broken endpoint must not make the auditor read forever.
const maxHTTPBody = 1 << 20

func versionCollector() Registration {
	return Registration{
		Name:      "version",
		Scope:     ScopeMember,
		Help:      "server, cluster and storage version (Maintenance.Status and GET /version, as discovery read it)",
		Collector: CollectorFunc(collectVersion),
	}
}

// versionDoc is GET /version; "storage" appears from 3.6.
type versionDoc struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
}

// collectVersion prefers what discovery already read (Status's binary
// version, /version's cluster version) and Status's storage version (3.6+),
// so a quick scan costs no extra request; only a member whose cluster
// version discovery could not read is asked GET /version again.
func collectVersion(ctx context.Context, t *Target) error {
	m := t.Member
	st, stErr := memberStatus(ctx, m)
	f := &VersionFacts{Cluster: m.Discovered.ClusterVersion}
	if stErr == nil {
		f.Server = st.Version
		f.Storage, _ = statusExtras(st)
	}
	if f.Cluster != "" && f.Server != "" {
		m.Facts.Version = f
		return nil
	}
	var doc versionDoc
	if err := getJSON(ctx, m.HTTP, m.Endpoint+"/version", &doc); err != nil || doc.Server == "" {
		if f.Server != "" {
			// /version can be blocked by a proxy; the binary version is
			// still known, the cluster version is not.
			m.Facts.Version = f
			return nil
		}
		if err == nil {
			err = errors.New("no etcdserver field in the answer")
		}
		return fmt.Errorf("GET /version: %v; Status: %w", err, stErr)
	}
	f.Server, f.Cluster = doc.Server, doc.Cluster
	if doc.Storage != "" {
		f.Storage = doc.Storage
	}
	m.Facts.Version = f
	return nil
}

// getJSON GETs url and decodes a JSON body of at most maxHTTPBody bytes.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	body, code, err := httpGet(ctx, c, url)
	if err != nil {
		return err
	}
	return decodeJSON(body, code, url, v)
}

// decodeJSON decodes the body of a 200 answer to url; any other status is
// an error quoting the start of the body.
func decodeJSON(body []byte, code int, url string, v any) error {
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", redactURL(url), code, snippet(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode JSON: %w (body starts %q)", redactURL(url), err, snippet(body))
	}
	return nil
}

// httpGet GETs url with ctx's deadline and returns the (bounded) body.
func httpGet(ctx context.Context, c *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", redactURL(url), err)
	}
	return readBody(resp, url)
}

// readBody reads and closes a response body of at most maxHTTPBody bytes.
func readBody(resp *http.Response, url string) ([]byte, int, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: read body: %w", redactURL(url), err)
	}
	if len(body) > maxHTTPBody {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: answer larger than %d bytes", redactURL(url), maxHTTPBody)
	}
	return body, resp.StatusCode, nil
}

// redactURL drops a query string and user info, which could carry a secret
// from a hand-written endpoint, before a URL goes into an error.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < i {
			u = u[:s+3] + "REDACTED@" + u[i+1:]
		}
	}
	return u
}

func snippet(b []byte) string {
	const n = 120
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// memberStatus is Maintenance.Status on the member's own connection (the
// clientv3 helper dials a new connection per call, a TLS handshake each).
// One answer serves every collector of the member in this run.
func memberStatus(ctx context.Context, m *MemberTarget) (*pb.StatusResponse, error) {
	if m.status != nil {
		return m.status, nil
	}
	resp, err := pb.NewMaintenanceClient(m.Client.ActiveConnection()).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("Status: %w", rpcError(ctx, err))
	}
	m.status = resp
	return resp, nil
}

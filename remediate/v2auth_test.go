package remediate

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
)

// v2AuthCall makes one request to the v2 auth API as the v2 root user (or
// anonymously when password is ""), as `etcdctl --api=2 auth|user|role` does.
func v2AuthCall(t *testing.T, hc *http.Client, method, url, password, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if password != "" {
		req.SetBasicAuth("root", password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

// TestV2AuthCluster: a 3.5 cluster with v3 auth, --enable-v2, Kubernetes
// data in v2 and the v2 API's own auth on with the guest role revoked (an
// anonymous v2 read answers 401). With the inventory's root credentials:
// the scan counts the v2 keys and the v2 auth users and roles; the plan
// refuses the 3.6 hop naming them (3.6 refuses them as custom v2 content);
// the data actions copy the keys into v3 and empty v2 through HTTP basic
// auth. Once the operator has turned v2 auth off and removed its user and
// role, the hop to 3.6 is planned and every member starts 3.6, its data dir
// passing etcdutl's check.
func TestV2AuthCluster(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	hoststub.RequireRestoreTool(t, "3.5")
	w := newWorld(t, "v2auth", etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3), etcdtest.WithV2(), etcdtest.WithAuth())
	ctx := t.Context()
	c := w.h.Cluster
	hc, ep, pw := c.HTTPClient(), c.Endpoints()[0], c.RootPassword
	if res, err := seed.V2Keys(ctx, hc, ep, seed.V2Spec{Prefix: "/registry/minions", Keys: 40}); err != nil || res.Keys != 40 {
		t.Fatalf("seed v2: %+v %v", res, err)
	}
	v2AuthCall(t, hc, http.MethodPut, ep+"/v2/auth/users/root", "", fmt.Sprintf(`{"user":"root","password":%q}`, pw))
	v2AuthCall(t, hc, http.MethodPut, ep+"/v2/auth/enable", "", "")
	v2AuthCall(t, hc, http.MethodPut, ep+"/v2/auth/roles/guest", pw, `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`)
	if resp, err := hc.Get(ep + "/v2/keys/?quorum=false"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous v2 read: %v %v, want 401", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	w.h.SetWriter(hoststub.WriterFuncs{
		Stop:    func(context.Context) error { return nil },
		Start:   func(context.Context) error { return nil },
		Backend: func(context.Context, string) error { return nil },
	})

	facts, err := collectors.Run(ctx, w.fleet, collectors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range facts.Clusters[0].Members {
		if v2 := m.V2; v2 == nil || !v2.Counted || v2.Keys != 40 || !v2.AuthEnabled || !v2.AuthCounted || v2.AuthUsers != 1 || v2.AuthRoles != 1 {
			t.Fatalf("%s v2 facts %+v, want 40 keys, v2 auth on with 1 user and 1 role", m.Name, v2)
		}
	}

	opts := func(o Options) Options {
		o.Data = V2Planner{BackupDir: w.eng.StateDir + "/backups"}
		return o
	}
	p := w.plan(t, opts(Options{Target: "3.6.16"}))
	if r := p.Clusters[0].Refused; !strings.Contains(r, "m0 (1 users, 1 roles)") || !strings.Contains(r, "auth disable") {
		t.Fatalf("3.6 hop not refused for v2 auth: %q (%d steps)", r, len(p.Clusters[0].Steps))
	}

	p = w.plan(t, opts(Options{Target: "3.5.35", Actions: []string{ActionMigrateV2}}))
	if cp := p.Clusters[0]; cp.Refused != "" || len(cp.Steps) == 0 {
		t.Fatalf("data plan: refused %q, %d steps, not planned %+v", cp.Refused, len(cp.Steps), cp.NotPlanned)
	}
	out, err := w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("apply the data actions: %+v %v", out, err)
	}
	got, err := c.Client(t).Get(ctx, "/registry/minions/", clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 40 {
		t.Fatalf("v3 after the copy: %d keys, %v", len(got.Kvs), err)
	}
	kapi, err := v2data.NewKeysAPIAs([]string{ep}, nil, 0, "root", pw)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := kapi.Get(ctx, "/", &client.GetOptions{Recursive: true}); err != nil || len(resp.Node.Nodes) != 0 {
		t.Fatalf("v2 after the cleanup: %v %v, want empty", resp, err)
	}

	// The operator's part: v2 auth off, its user and role removed.
	v2AuthCall(t, hc, http.MethodDelete, ep+"/v2/auth/enable", pw, "")
	v2AuthCall(t, hc, http.MethodDelete, ep+"/v2/auth/users/root", "", "")
	v2AuthCall(t, hc, http.MethodDelete, ep+"/v2/auth/roles/guest", "", "")
	p = w.plan(t, opts(Options{Target: "3.6.16"}))
	if cp := p.Clusters[0]; cp.Refused != "" || len(cp.Steps) == 0 {
		t.Fatalf("3.6 plan after v2 auth was removed: refused %q", cp.Refused)
	}
	out, err = w.eng.Apply(ctx, p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if err != nil || out.Status != journal.RunDone {
		t.Fatalf("apply the 3.6 hop: %+v %v", out, err)
	}
	for m, v := range versions(t, w) {
		if v != "3.6.16" {
			t.Errorf("%s runs %s, want 3.6.16", m, v)
		}
	}
	got, err = c.Client(t).Get(ctx, "/registry/minions/", clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 40 {
		t.Fatalf("v3 on 3.6: %d keys, %v", len(got.Kvs), err)
	}
}

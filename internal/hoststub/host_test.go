package hoststub_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

// runner loads the host's inventory the way the remediator does and returns
// a hooks.Runner for its one cluster.
func runner(t *testing.T, h *hoststub.Host) *hooks.Runner {
	t.Helper()
	fleet, err := inventory.Load(h.Inventory(t, "stub-a"))
	if err != nil {
		t.Fatal(err)
	}
	return hooks.NewRunner(fleet.Clusters[0].Hooks, hooks.Options{Secrets: []string{h.Cluster.RootPassword}})
}

func memberVars(m *etcdtest.Member, to string) hooks.Vars {
	return hooks.Vars{Cluster: "stub-a", Member: m.Name, ClientURL: m.ClientURL, PeerURL: m.PeerURL, ToVersion: to, RunID: "r1"}
}

func run(t *testing.T, r *hooks.Runner, name string, v hooks.Vars) hooks.Result {
	t.Helper()
	res, err := r.Run(t.Context(), name, v)
	if err != nil {
		t.Fatalf("%v\noutput: %s", err, res.Output)
	}
	return res
}

func serverVersion(t *testing.T, h *hoststub.Host, m *etcdtest.Member) string {
	t.Helper()
	resp, err := h.Cluster.HTTPClient().Get(m.ClientURL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		Server string `json:"etcdserver"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET /version: %s: %v", b, err)
	}
	return v.Server
}

func status(t *testing.T, r *hooks.Runner, m *etcdtest.Member) hoststub.Status {
	t.Helper()
	// status is not a remediator hook; call testhost directly through a
	// one-off hook set, as an operator would over ssh.
	res := run(t, r, "status", memberVars(m, ""))
	var s hoststub.Status
	if err := json.Unmarshal([]byte(res.Output), &s); err != nil {
		t.Fatalf("status %q: %v", res.Output, err)
	}
	return s
}

// withStatus adds a "status" hook to the host's hooks.
func withStatus(t *testing.T, h *hoststub.Host) *hooks.Runner {
	hs := h.Hooks(t)
	hs["status"] = []string{hoststub.Binary(t), "--socket", h.Socket, "status", "{{.Member}}"}
	return hooks.NewRunner(hs, hooks.Options{})
}

// TestUpgradeMemberThroughHooks: a member of a 3-member 3.5 cluster is
// stopped, given 3.6 and started again only through the hooks of a
// user-style inventory; it comes back reporting 3.6.16 and the calls and
// their ETCDAUDIT_* variables are recorded.
func TestUpgradeMemberThroughHooks(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
	r := runner(t, h)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := h.Cluster.Client(t).Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	m := h.Cluster.Members[1]
	v := memberVars(m, "3.6.16")
	run(t, r, hooks.StopMember, v)
	if m.Running() {
		t.Fatal("stop_member left the member running")
	}
	res := run(t, r, hooks.InstallVersion, v)
	if !strings.Contains(res.Output, "installed etcd 3.6.16") {
		t.Errorf("install output %q", res.Output)
	}
	run(t, r, hooks.StartMember, v)
	if got := serverVersion(t, h, m); got != "3.6.16" {
		t.Fatalf("GET /version: %q, want 3.6.16", got)
	}
	run(t, r, hooks.Verify, v)
	s := status(t, withStatus(t, h), m)
	if !s.Running || s.Version != "3.6.16" || s.PID != m.PID() || !slices.Contains(s.Flags, "--name="+m.Name) {
		t.Errorf("status %+v", s)
	}
	got, err := m.Client(t).Get(ctx, "/k")
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("key after upgrade: %v %v", got, err)
	}
	if ops := h.Ops(); !slices.Equal(ops[:4], []string{"stop m1", "install m1", "start m1", "verify m1"}) {
		t.Errorf("calls %q", ops)
	}
	if c := h.Calls()[1]; c.Env["ETCDAUDIT_TO_VERSION"] != "3.6.16" || c.Env["ETCDAUDIT_HOOK"] != "install_version" || c.Args[0] != "3.6.16" {
		t.Errorf("install call %+v", c)
	}
}

// TestFaultsFlagsAndRefusals: injected faults fail exactly the next matching
// call; set-flags changes the next start; a member configured with
// --enable-v2 cannot start 3.6 (as real 3.6 refuses the flag); installing a
// release the host does not have fails.
func TestFaultsFlagsAndRefusals(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	r := withStatus(t, h)
	m := h.Cluster.Members[0]
	v := memberVars(m, "3.6.16")

	h.FailNext("install", "")
	if _, err := r.Run(t.Context(), hooks.InstallVersion, v); err == nil || !strings.Contains(err.Error(), "injected fault: install") {
		t.Fatalf("first install: %v, want the injected fault", err)
	}
	run(t, r, hooks.InstallVersion, v) // the fault is used up
	bad := v
	bad.ToVersion = "3.6.99"
	if _, err := r.Run(t.Context(), hooks.InstallVersion, bad); err == nil || !strings.Contains(err.Error(), "no such release") {
		t.Errorf("install of an unknown release: %v", err)
	}

	run(t, r, hooks.StopMember, v)
	if _, err := r.Run(t.Context(), hooks.StartMember, v); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -enable-v2") {
		t.Fatalf("3.6 start with --enable-v2 configured: %v", err)
	}
	fv := v
	fv.FlagsAdd, fv.FlagsDrop = []string{"--snapshot-count=7", "--max-txn-ops=256"}, []string{"--enable-v2"}
	run(t, r, hooks.SetFlags, fv)
	run(t, r, hooks.StartMember, v)
	s := status(t, r, m)
	if s.Version != "3.6.16" || !slices.Contains(s.Flags, "--snapshot-count=7") || !slices.Contains(s.Flags, "--max-txn-ops=256") ||
		slices.ContainsFunc(s.Flags, func(f string) bool { return strings.HasPrefix(f, "--enable-v2") }) {
		t.Errorf("status after set-flags %+v", s)
	}

	// Dropping a raw flag takes it off the next start.
	fv.FlagsAdd, fv.FlagsDrop = nil, []string{"--max-txn-ops"}
	run(t, r, hooks.SetFlags, fv)
	run(t, r, hooks.StopMember, v)
	run(t, r, hooks.StartMember, v)
	if s := status(t, r, m); slices.Contains(s.Flags, "--max-txn-ops=256") || !slices.Contains(s.Flags, "--snapshot-count=7") {
		t.Errorf("status after dropping --max-txn-ops %+v", s)
	}
	if _, err := r.Run(t.Context(), hooks.StopWriters, v); err == nil || !strings.Contains(err.Error(), "no writers") {
		t.Errorf("writers-stop without a writer: %v", err)
	}
	var writes []string
	h.SetWriter(hoststub.WriterFuncs{
		Stop:    func(context.Context) error { writes = append(writes, "stop"); return nil },
		Backend: func(_ context.Context, b string) error { writes = append(writes, "backend "+b); return nil },
	})
	bv := v
	bv.Backend = "etcd3"
	run(t, r, hooks.StopWriters, bv)
	run(t, r, hooks.SetBackend, bv)
	if _, err := r.Run(t.Context(), hooks.StartWriters, v); err == nil || !strings.Contains(err.Error(), "does not support") {
		t.Errorf("writers-start without a Start func: %v", err)
	}
	if !slices.Equal(writes, []string{"stop", "backend etcd3"}) {
		t.Errorf("writer calls %q", writes)
	}
	h.SetProbe(func(context.Context, string) error { return io.ErrUnexpectedEOF })
	if _, err := r.Run(t.Context(), hooks.Verify, v); err == nil || !strings.Contains(err.Error(), "probe failed") {
		t.Errorf("failing probe: %v", err)
	}
	var failed int
	for _, c := range h.Calls() {
		if c.Err != "" {
			failed++
		}
	}
	if failed != 6 {
		t.Errorf("%d failed calls recorded, want 6: %q", failed, h.Ops())
	}
}

// TestRestore restores a member's data dir from a v3 snapshot with the
// restore tool of its version: the keys written after the snapshot are gone,
// the ones before are back.
func TestRestore(t *testing.T) {
	for _, version := range []string{"3.4", "3.5", "3.7"} {
		t.Run(version, func(t *testing.T) {
			hoststub.RequireRestoreTool(t, version)
			h := hoststub.Start(t, etcdtest.WithVersion(version))
			r := runner(t, h)
			m := h.Cluster.Members[0]
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cli := h.Cluster.Client(t)
			if _, err := cli.Put(ctx, "/before", "1"); err != nil {
				t.Fatal(err)
			}
			snap := filepath.Join(t.TempDir(), "snap.db")
			saveSnapshot(t, ctx, cli, snap)
			if _, err := cli.Put(ctx, "/after", "2"); err != nil {
				t.Fatal(err)
			}
			v := memberVars(m, "")
			v.Snapshot = snap
			if _, err := r.Run(ctx, hooks.RestoreSnapshot, v); err == nil || !strings.Contains(err.Error(), "stop it first") {
				t.Fatalf("restore of a running member: %v", err)
			}
			run(t, r, hooks.StopMember, v)
			res := run(t, r, hooks.RestoreSnapshot, v)
			if !strings.Contains(res.Output, "restored m0") {
				t.Errorf("restore output %q", res.Output)
			}
			run(t, r, hooks.StartMember, v)
			cli = m.Client(t)
			for k, want := range map[string]int{"/before": 1, "/after": 0} {
				got, err := cli.Get(ctx, k)
				if err != nil || len(got.Kvs) != want {
					t.Errorf("%s after restore: %v %v, want %d keys", k, got, err, want)
				}
			}
		})
	}
}

func saveSnapshot(t *testing.T, ctx context.Context, cli *clientv3.Client, path string) {
	t.Helper()
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInventoryTLSAuth: the inventory written for a TLS cluster with auth
// validates without warnings and connects, and the root password given to
// the hooks as a secret never shows in what they print.
func TestInventoryTLSAuth(t *testing.T) {
	h := hoststub.Start(t, etcdtest.WithTLS(), etcdtest.WithAuth())
	fleet, err := inventory.Load(h.Inventory(t, "secure"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Warnings) != 0 {
		t.Errorf("warnings: %v", fleet.Warnings)
	}
	conn, err := inventory.Connect(fleet.Clusters[0])
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(conn.ClientConfig(fleet.Clusters[0].Endpoints))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/through-the-inventory", "x"); err != nil {
		t.Fatalf("put through the inventory's connection: %v", err)
	}
	_, pw := conn.Credentials()
	r := hooks.NewRunner(fleet.Clusters[0].Hooks, hooks.Options{Secrets: []string{pw}})
	res := run(t, r, hooks.Verify, hooks.Vars{Member: "m0 " + pw})
	if strings.Contains(res.Output, pw) || strings.Contains(strings.Join(res.Argv, " "), pw) {
		t.Errorf("password shown: %q %q", res.Argv, res.Output)
	}
}

// TestCheckV2Store runs etcd's offline v2 check through the check_v2store
// hook: it finds a v2 key in a stopped 3.5 member's WAL (what 3.6 panics
// on), passes a member that only ever held v3 data, and refuses a running
// member (etcdutl needs a data dir not in use).
func TestCheckV2Store(t *testing.T) {
	hoststub.RequireRestoreTool(t, "3.5")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	dirty := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	m := dirty.Cluster.Members[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, m.ClientURL+"/v2/keys/registry/pods/default/a", strings.NewReader("value=x"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := dirty.Cluster.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("v2 put: %s", resp.Status)
	}
	r := runner(t, dirty)
	v := memberVars(m, "3.6.16")
	if res, err := r.Run(ctx, hooks.CheckV2Store, v); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("check of a running member: %v (%s)", err, res.Output)
	}
	run(t, r, hooks.StopMember, v)
	res, err := r.Run(ctx, hooks.CheckV2Store, v)
	if err == nil || !strings.Contains(res.Output, "detected custom v2 content in WAL records") {
		t.Errorf("check of a member with a v2 key: %v\noutput: %s", err, res.Output)
	}

	clean := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	m = clean.Cluster.Members[0]
	if _, err := clean.Cluster.Client(t).Put(ctx, "/registry/pods/default/a", "x"); err != nil {
		t.Fatal(err)
	}
	r = runner(t, clean)
	v = memberVars(m, "3.6.16")
	run(t, r, hooks.StopMember, v)
	if res := run(t, r, hooks.CheckV2Store, v); !strings.Contains(res.Output, "No custom content found") {
		t.Errorf("check of a v3-only member: %s", res.Output)
	}
}

package v2data

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func keysAPI(t *testing.T, c *etcdtest.Cluster) client.KeysAPI {
	t.Helper()
	// The cluster's transport: Stop closes its idle connections, which a
	// member would otherwise wait on for two request timeouts.
	kapi, err := NewKeysAPI(c.Endpoints(), c.HTTPClient().Transport.(*http.Transport), 0)
	if err != nil {
		t.Fatal(err)
	}
	return kapi
}

func v3Count(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

var prefixes = []string{"/legacy", "registry/"}

// seedLegacy writes custom v2 data (plain and TTL keys and directories) and
// a Kubernetes etcd2 tree with TTL events, plus a key outside the prefixes.
// It returns how many keys and TTL keys are under the prefixes.
func seedLegacy(t *testing.T, ctx context.Context, c *etcdtest.Cluster, kapi client.KeysAPI) (keys, ttlKeys int) {
	t.Helper()
	v2, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{
		Prefix: "/legacy", Dirs: 4, Keys: 500, TTLKeys: 120, TTLDirs: 2, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := seed.RegistryV2(ctx, c.HTTPClient(), c.Endpoints()[0], seed.Registry{
		Namespaces: 2, PodsPerNamespace: 40, ServicesPerNamespace: 10, EventsPerNamespace: 60, EventTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kapi.Set(ctx, "/other/keep", "not migrated", nil); err != nil {
		t.Fatal(err)
	}
	return v2.Keys + reg.Keys, v2.TTLKeys + reg.Events
}

// TestMigrateRoundTrip walks the whole data path on the two versions that
// serve v2: dump and verify it, conflict check, copy, verify, idempotent
// re-run, cleanup and the TTL check, re-import from the dump, and the
// rollback of the copy that keeps a key rewritten since.
func TestMigrateRoundTrip(t *testing.T) {
	for _, v := range []string{"3.4", "3.5"} {
		t.Run(v, func(t *testing.T) {
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithV2())
			cli := c.Client(t)
			kapi := keysAPI(t, c)
			ctx := testCtx(t)
			keys, ttlKeys := seedLegacy(t, ctx, c, kapi)

			dump := filepath.Join(t.TempDir(), "v2.jsonl")
			info, err := DumpFile(ctx, kapi, prefixes, dump)
			if err != nil {
				t.Fatal(err)
			}
			if info.Keys != keys || info.TTLKeys != ttlKeys || info.Dirs < 4+2 || len(info.SHA256) != 64 {
				t.Fatalf("dump %+v; want %d keys, %d with a TTL", info, keys, ttlKeys)
			}
			tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
			b, _ := os.ReadFile(dump)
			b[len(b)/2] ^= 1
			if err := os.WriteFile(tampered, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := VerifyDump(tampered, info); err == nil {
				t.Fatal("VerifyDump accepted a dump with a flipped bit")
			}
			if err := NoTTLKeys(ctx, kapi); !errors.Is(err, ErrV2TTLLeft) {
				t.Fatalf("NoTTLKeys before cleanup = %v; want ErrV2TTLLeft", err)
			}
			if found, err := Conflicts(ctx, cli, prefixes, 10); err != nil || len(found) != 0 {
				t.Fatalf("Conflicts = %q, %v; want none", found, err)
			}

			rep, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Keys != keys || rep.Copied != keys || rep.Leased != ttlKeys || len(rep.Written) != keys {
				t.Fatalf("copy %s; want %d keys copied, %d leased", sum(rep), keys, ttlKeys)
			}
			if n := v3Count(t, ctx, cli, "/"); n != int64(keys) {
				t.Fatalf("v3 holds %d keys; want exactly the %d copied (not /other/keep)", n, keys)
			}
			vr, err := VerifyCopy(ctx, kapi, cli, prefixes, rep.Written)
			if err != nil || vr.Matched != keys {
				t.Fatalf("verify %+v, %v; want %d matched", vr, err, keys)
			}
			for _, id := range rep.Leases {
				ttl, err := cli.TimeToLive(ctx, id)
				if err != nil || ttl.TTL < 3500 || ttl.GrantedTTL > 3600+61 {
					t.Fatalf("lease %x: %+v, %v; want about an hour left", id, ttl, err)
				}
			}
			// A second fresh copy halts before writing; a resumed one finds all done.
			revBefore := v3Rev(t, ctx, cli)
			if _, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{}); !errors.Is(err, ErrConflict) {
				t.Fatalf("fresh copy over copied keys = %v; want ErrConflict", err)
			}
			again, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{Resume: true})
			if err != nil || again.Copied != 0 || again.AlreadyCopied != keys || len(again.Leases) != 0 {
				t.Fatalf("resumed copy of a finished one %s, %v; want all %d already copied", sum(again), err, keys)
			}
			if rev := v3Rev(t, ctx, cli); rev != revBefore {
				t.Fatalf("re-runs moved the revision %d -> %d", revBefore, rev)
			}

			cr, err := Cleanup(ctx, kapi, cli, prefixes, again.Written)
			if err != nil || cr.Deleted != keys || cr.DirsLeft.Count != 0 {
				t.Fatalf("cleanup %+v, %v; want %d deleted", cr, err, keys)
			}
			if err := NoTTLKeys(ctx, kapi); err != nil {
				t.Fatal(err)
			}
			left, err := Remaining(ctx, kapi)
			if err != nil || left.Nodes != 2 { // /other and /other/keep
				t.Fatalf("v2 left %+v, %v; want /other/keep only", left, err)
			}

			ri, err := Reimport(ctx, kapi, dump, info)
			if err != nil || ri.Keys != keys {
				t.Fatalf("re-import %+v, %v; want %d keys", ri, err, keys)
			}
			if vr, err := VerifyCopy(ctx, kapi, cli, prefixes, rep.Written); err != nil || vr.Matched != keys {
				t.Fatalf("verify after re-import %+v, %v", vr, err)
			}

			rewritten := rep.Written[7].Key
			if _, err := cli.Put(ctx, rewritten, "written after the copy"); err != nil {
				t.Fatal(err)
			}
			dr, err := DeleteCopied(ctx, cli, rep.Written)
			if err != nil || dr.Deleted != keys-1 || dr.Changed.Count != 1 || dr.Changed.Keys[0] != rewritten {
				t.Fatalf("delete copied %+v, %v; want %d deleted and %s kept", dr, err, keys-1, rewritten)
			}
			resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
			if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != rewritten {
				t.Fatalf("v3 after rollback: %v, %v; want only %s", resp, err, rewritten)
			}
		})
	}
}

// sum prints a copy report without its key list.
func sum(r CopyReport) string {
	return fmt.Sprintf("{keys %d copied %d already %d leased %d conflicts %d leases %d written %d}",
		r.Keys, r.Copied, r.AlreadyCopied, r.Leased, len(r.Conflicts), len(r.Leases), len(r.Written))
}

func v3Rev(t *testing.T, ctx context.Context, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(ctx, "/", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestConflictHaltsBeforeWriting plants one v3 key under a migrated prefix:
// the copy must refuse before writing anything, naming it.
func TestConflictHaltsBeforeWriting(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	cli := c.Client(t)
	kapi := keysAPI(t, c)
	ctx := testCtx(t)
	seedLegacy(t, ctx, c, kapi)
	if _, err := cli.Put(ctx, "/registry/pods/ns-0/web-3", "a v3 pod"); err != nil {
		t.Fatal(err)
	}
	rev := v3Rev(t, ctx, cli)
	rep, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{})
	if !errors.Is(err, ErrConflict) || len(rep.Conflicts) != 1 || rep.Conflicts[0] != "/registry/pods/ns-0/web-3" {
		t.Fatalf("copy = %s %q, %v; want ErrConflict naming the v3 pod", sum(rep), rep.Conflicts, err)
	}
	if got := v3Rev(t, ctx, cli); got != rev || v3Count(t, ctx, cli, "/") != 1 {
		t.Fatalf("the refused copy wrote: revision %d -> %d", rev, got)
	}
	// A resumed copy never overwrites it either.
	rep, err = Copy(ctx, kapi, cli, prefixes, CopyOptions{Resume: true})
	if !errors.Is(err, ErrConflict) || len(rep.Conflicts) != 1 {
		t.Fatalf("resumed copy = %v; want ErrConflict", err)
	}
	got, _ := cli.Get(ctx, "/registry/pods/ns-0/web-3")
	if string(got.Kvs[0].Value) != "a v3 pod" {
		t.Fatalf("the v3 pod was overwritten: %q", got.Kvs[0].Value)
	}
}

// TestCopyResume interrupts a copy after a few transactions (while others
// are in flight: the client may give up on a transaction the server
// commits), then resumes it: the end state is a complete, verified copy.
// The server allows 50 operations a transaction, below the default 128.
func TestCopyResume(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	cli := c.Client(t)
	kapi := keysAPI(t, c)
	ctx := testCtx(t)
	keys, ttlKeys := seedLegacy(t, ctx, c, kapi)
	// A server allowing fewer operations per transaction than the default:
	// copy, resume and verify must split their transactions.
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.StartWith("", etcdtest.WithFlags("--max-txn-ops=50")); err != nil {
		t.Fatal(err)
	}
	cli = c.Client(t)

	cctx, cancel := context.WithCancel(ctx)
	var commits atomic.Int32
	afterCommit = func() {
		if commits.Add(1) == 3 {
			cancel()
		}
	}
	t.Cleanup(func() { afterCommit = nil })
	first, err := Copy(cctx, kapi, cli, prefixes, CopyOptions{})
	afterCommit = nil
	if !errors.Is(err, context.Canceled) || first.Copied == 0 || first.Copied >= keys {
		t.Fatalf("interrupted copy %d of %d keys, %v; want some copied and context.Canceled", first.Copied, keys, err)
	}
	// What a rollback of a copy killed before it reported finds: every key
	// the interrupted copy wrote, with the revision it wrote it at (and a
	// transaction cancelled in flight may have been applied too).
	found, other, err := FindCopied(ctx, kapi, cli, prefixes)
	if err != nil || other.Count != 0 || len(found) < len(first.Written) || len(found) >= keys {
		t.Fatalf("find copied: %d keys (the interrupted copy wrote %d), %v, other %+v", len(found), len(first.Written), err, other)
	}
	foundRev := map[string]KeyRev{}
	for _, f := range found {
		foundRev[f.Key] = f
	}
	for _, w := range first.Written {
		if foundRev[w.Key] != w {
			t.Fatalf("%s: the interrupted copy wrote %+v, FindCopied found %+v", w.Key, w, foundRev[w.Key])
		}
	}
	if _, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("fresh copy after an interrupted one = %v; want ErrConflict (resume instead)", err)
	}
	rep, err := Copy(ctx, kapi, cli, prefixes, CopyOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied+rep.AlreadyCopied != keys || rep.AlreadyCopied < first.Copied || rep.Leased != ttlKeys || len(rep.Written) != keys {
		t.Fatalf("resumed copy %s after %d; want %d keys in all, %d leased", sum(rep), first.Copied, keys, ttlKeys)
	}
	byKey := map[string]KeyRev{}
	for _, w := range rep.Written {
		byKey[w.Key] = w
	}
	for _, w := range first.Written {
		if byKey[w.Key] != w {
			t.Fatalf("%s: first run wrote %+v, resumed run reports %+v", w.Key, w, byKey[w.Key])
		}
	}
	if n := v3Count(t, ctx, cli, "/"); n != int64(keys) {
		t.Fatalf("v3 holds %d keys; want %d", n, keys)
	}
	if vr, err := VerifyCopy(ctx, kapi, cli, prefixes, rep.Written); err != nil || vr.Matched != keys {
		t.Fatalf("verify %+v, %v", vr, err)
	}
}

// TestSnapshotsPast deletes v2 data with TTL keys on 3.5 and checks the
// member's snapshot against the deletion: behind until the member restarts
// without --enable-v2 with a small --snapshot-count and takes writes (the
// verified 3.5 -> 3.6 procedure, steps 2-4).
func TestSnapshotsPast(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	cli := c.Client(t)
	kapi := keysAPI(t, c)
	ctx := testCtx(t)
	if _, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/app", Keys: 20, TTLKeys: 3}); err != nil {
		t.Fatal(err)
	}
	rep, err := Copy(ctx, kapi, cli, []string{"/app"}, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Cleanup(ctx, kapi, cli, []string{"/app"}, rep.Written); err != nil {
		t.Fatal(err)
	}
	if err := NoTTLKeys(ctx, kapi); err != nil {
		t.Fatal(err)
	}
	idx, err := RaftIndex(ctx, cli, c.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Members[0]
	dirs := map[string]string{m.Name: m.DataDir}
	if err := SnapshotsPast(dirs, idx); !errors.Is(err, ErrSnapshotBehind) {
		t.Fatalf("SnapshotsPast right after the deletion = %v; want ErrSnapshotBehind", err)
	}
	etcdutl := etcdutlPath(t)
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if etcdutl != "" {
		err := CheckV2Store(ctx, etcdutl, m.DataDir)
		switch {
		case errors.Is(err, ErrNoV2StoreCheck) && os.Getenv("CI") == "true":
			t.Fatalf("make etcd-binaries builds etcdutl with its check command: %v", err)
		case errors.Is(err, ErrNoV2StoreCheck):
			t.Logf("etcdutl check v2store not run: %v", err)
			etcdutl = ""
		case err == nil:
			t.Fatal("etcdutl check v2store passed with the v2 data still in the WAL after the newest snapshot")
		}
	}
	if err := m.StartWith("", etcdtest.WithoutV2(), etcdtest.WithSnapshotCount(5)); err != nil {
		t.Fatal(err)
	}
	cli = c.Client(t)
	for range 12 {
		if _, err := cli.Put(ctx, "/etcdaudit/snapshot-nudge", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "/etcdaudit/snapshot-nudge"); err != nil {
		t.Fatal(err)
	}
	if err := SnapshotsPast(dirs, idx); err != nil {
		t.Fatal(err)
	}
	if etcdutl == "" {
		return
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := CheckV2Store(ctx, etcdutl, m.DataDir); err != nil {
		t.Fatal(err)
	}
}

// etcdutlPath finds etcdutl 3.5.35 where `make etcd-binaries` puts it beside
// etcd, or at ETCDAUDIT_ETCDUTL; "" when there is none.
func etcdutlPath(t *testing.T) string {
	p := os.Getenv("ETCDAUDIT_ETCDUTL")
	if p == "" {
		p = filepath.Join(os.Getenv("ETCDAUDIT_ETCD_DIR"), "v3.5.35", "etcdutl")
	}
	if _, err := os.Stat(p); err != nil {
		t.Logf("etcdutl check v2store not run: %v", err)
		return ""
	}
	return p
}

// TestCleanupAfterBackendSwitch: once the API servers write to etcd3 they
// update and delete keys the copy wrote; the v2 keys the copy read, still
// at the index it read them at, are deleted all the same. A v2 key changed
// or created after the copy (a writer that was not stopped) is kept.
func TestCleanupAfterBackendSwitch(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	cli := c.Client(t)
	kapi := keysAPI(t, c)
	ctx := testCtx(t)
	if _, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Prefix: "/app", Keys: 20, TTLKeys: 4}); err != nil {
		t.Fatal(err)
	}
	rep, err := Copy(ctx, kapi, cli, []string{"/app"}, CopyOptions{})
	if err != nil || len(rep.Written) != 24 {
		t.Fatalf("copy %s, %v", sum(rep), err)
	}
	// The API servers on etcd3: two updates and a delete.
	for i, k := range []string{rep.Written[0].Key, rep.Written[1].Key} {
		if _, err := cli.Put(ctx, k, fmt.Sprintf("k8s\x00updated %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, rep.Written[2].Key); err != nil {
		t.Fatal(err)
	}
	// A v2 writer that was not stopped: one update, one new key.
	changed := rep.Written[3].Key
	if _, err := kapi.Set(ctx, changed, "late v2 write", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kapi.Set(ctx, "/app/late", "late v2 key", nil); err != nil {
		t.Fatal(err)
	}
	cr, err := Cleanup(ctx, kapi, cli, []string{"/app"}, rep.Written)
	if err == nil || cr.Deleted != 23 || cr.NotCopied.Count != 2 || cr.Changed.Count != 0 {
		t.Fatalf("cleanup %+v, %v; want 23 deleted, %s and /app/late kept", cr, err, changed)
	}
	for _, k := range []string{changed, "/app/late"} {
		if _, err := kapi.Get(ctx, k, nil); err != nil {
			t.Errorf("v2 %s after cleanup: %v; want kept", k, err)
		}
	}
}

package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/remediate/backup"
)

// TestSnapshotVerified takes a snapshot from a real member of each version
// line, verifies it with etcd's snapshot library, and shows that a truncated,
// altered or stale file fails verification with a reason.
func TestSnapshotVerified(t *testing.T) {
	for _, version := range []string{"3.4", "3.5", "3.7"} {
		t.Run(version, func(t *testing.T) {
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(version), etcdtest.WithMembers(3))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			all := c.Client(t)
			var last int64
			for i := range 50 {
				resp, err := all.Put(ctx, fmt.Sprintf("/registry/pods/p%02d", i), strings.Repeat("v", 200))
				if err != nil {
					t.Fatal(err)
				}
				last = resp.Header.Revision
			}
			ep := c.Members[1].ClientURL
			path := filepath.Join(t.TempDir(), "backups", "m1.db")
			info, err := backup.Snapshot(ctx, c.Members[1].Client(t), ep, path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Revision < last || info.TotalKeys < 50 || info.Hash == 0 || info.Member != ep || info.Path != path || len(info.SHA256) != 64 {
				t.Errorf("info %+v, want revision >= %d and >= 50 keys", info, last)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != info.Size {
				t.Errorf("file %v %v, info size %d", fi, err, info.Size)
			}
			if _, err := os.Stat(path + ".part"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf(".part left behind: %v", err)
			}
			if err := backup.Verify(path, info); err != nil {
				t.Fatalf("verify the snapshot just taken: %v", err)
			}

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := func(name string, content []byte, want backup.Info, reason string) {
				t.Helper()
				p := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(p, content, 0o600); err != nil {
					t.Fatal(err)
				}
				err := backup.Verify(p, want)
				if !errors.Is(err, backup.ErrVerify) || !strings.Contains(err.Error(), reason) {
					t.Errorf("%s: %v, want ErrVerify with %q", name, err, reason)
				}
			}
			bad("truncated", data[:len(data)/2], info, "size")
			bad("truncated-no-want", data[:len(data)-1000], backup.Info{}, "not a database plus")
			bad("truncated-by-pages", data[:len(data)-4096], backup.Info{}, "integrity hash")
			altered := append([]byte(nil), data...)
			i := strings.Index(string(altered), strings.Repeat("v", 200))
			if i < 0 {
				t.Fatal("value not found in the snapshot")
			}
			altered[i+10] = 'X'
			bad("altered", altered, info, "sha256")
			bad("altered-no-sha", altered, backup.Info{}, "integrity hash")
			bad("stale", data, backup.Info{Revision: info.Revision + 100}, "below")
			bad("other-hash", data, backup.Info{Hash: info.Hash + 1}, "hash")
		})
	}
}

// TestSnapshotRefusals: a client with several endpoints, an unreachable
// member and a cancelled stream leave no file at path.
func TestSnapshotRefusals(t *testing.T) {
	c := etcdtest.NewCluster(t) // embed is enough: nothing here depends on the version
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	cfg := c.ClientConfig()
	cfg.Endpoints = []string{c.Members[0].ClientURL, "http://127.0.0.1:1"}
	multi, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = multi.Close() }()
	if _, err := backup.Snapshot(t.Context(), multi, c.Members[0].ClientURL, path); err == nil || !strings.Contains(err.Error(), "one endpoint") {
		t.Errorf("multi-endpoint client: %v", err)
	}
	cfg.Endpoints = []string{"http://127.0.0.1:1"}
	dead, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dead.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := backup.Snapshot(ctx, dead, "http://127.0.0.1:1", path); err == nil {
		t.Error("snapshot of an unreachable member succeeded")
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := backup.Snapshot(ctx, c.Members[0].Client(t), c.Members[0].ClientURL, path); err == nil {
		t.Error("snapshot with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	// A new, empty cluster (revision 1, no key entry) has a valid snapshot.
	info, err := backup.Snapshot(t.Context(), c.Members[0].Client(t), c.Members[0].ClientURL, path)
	if err != nil || info.Revision != 0 {
		t.Errorf("snapshot of an empty cluster: %+v %v", info, err)
	}
}

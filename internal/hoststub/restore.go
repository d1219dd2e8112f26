package hoststub

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// restore rebuilds a stopped member's data dir from a v3 snapshot with the
// offline tool of the version the member will start with: 3.4's `etcdctl
// snapshot restore` (Debian's /usr/bin/etcdctl, ETCDAUDIT_ETCDCTL34
// overrides), `etcdutl snapshot restore` from 3.5 on (built beside etcd by
// `make etcd-binaries`). The old data dir is kept beside the new one.
func (h *Host) restore(ctx context.Context, m *etcdtest.Member, snapshot string) (string, error) {
	if m.Running() {
		return "", fmt.Errorf("restore %s: the member is running; stop it first", m.Name)
	}
	if st, err := os.Stat(snapshot); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("restore %s: snapshot %s: not a readable file (%v)", m.Name, snapshot, err)
	}
	h.mu.Lock()
	version := m.FullVersion()
	if p := h.pending[m.Name]; p != nil && p.version != "" {
		version = p.version
	}
	h.mu.Unlock()
	tool, env, err := RestoreTool(version)
	if err != nil {
		return "", fmt.Errorf("restore %s: %w", m.Name, err)
	}
	target := m.DataDir + ".restoring"
	if err := os.RemoveAll(target); err != nil {
		return "", fmt.Errorf("restore %s: %w", m.Name, err)
	}
	args := append([]string{"snapshot", "restore", snapshot, "--data-dir=" + target}, m.RestoreFlags()...)
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(target)
		return string(out), fmt.Errorf("restore %s: %s %s: %w", m.Name, filepath.Base(tool), strings.Join(args, " "), err)
	}
	old := fmt.Sprintf("%s.before-restore-%d", m.DataDir, time.Now().UnixNano())
	if err := os.Rename(m.DataDir, old); err != nil && !os.IsNotExist(err) {
		return string(out), fmt.Errorf("restore %s: keep the old data dir: %w", m.Name, err)
	}
	if err := os.Rename(target, m.DataDir); err != nil {
		return string(out), fmt.Errorf("restore %s: %w", m.Name, err)
	}
	return fmt.Sprintf("%srestored %s from %s with %s (etcd %s); previous data dir kept at %s\n",
		out, m.Name, snapshot, filepath.Base(tool), version, old), nil
}

// checkV2Store runs etcd's offline v2 check on a stopped member's data dir,
// as the 3.6 upgrade guide has an operator do: `etcdutl check v2store` of
// the newest 3.5 release here (3.6's etcdutl has no such command), which
// reads the newest v2 snapshot and the WAL records after it. Its exit status
// is the hook's.
func (h *Host) checkV2Store(ctx context.Context, m *etcdtest.Member) (string, error) {
	if m.Running() {
		return "", fmt.Errorf("check-v2store %s: the member is running; stop it first (etcdutl needs a data dir not in use)", m.Name)
	}
	tool, _, err := RestoreTool("3.5")
	if err != nil {
		return "", fmt.Errorf("check-v2store %s: %w", m.Name, err)
	}
	args := []string{"check", "v2store", "--data-dir=" + m.DataDir}
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("check-v2store %s: %s %s: %w", m.Name, filepath.Base(tool), strings.Join(args, " "), err)
	}
	return string(out), nil
}

// RestoreTool returns the binary that restores snapshots for a full etcd
// version (3.4: etcdctl, 3.5+: etcdutl) and the environment it needs.
func RestoreTool(full string) (string, []string, error) {
	var err error
	if strings.HasPrefix(full, "3.4") {
		p := os.Getenv("ETCDAUDIT_ETCDCTL34")
		if p == "" {
			p = "/usr/bin/etcdctl"
		}
		if _, err := os.Stat(p); err != nil {
			return "", nil, fmt.Errorf("etcdctl for etcd %s: %w (apt-get install etcd-client)", full, err)
		}
		return p, []string{"ETCDCTL_API=3"}, nil
	}
	if full, err = etcdtest.FullVersion(full); err != nil {
		return "", nil, err
	}
	bin, err := etcdtest.BinaryPath(full)
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(filepath.Dir(bin), "etcdutl")
	if _, err := os.Stat(p); err != nil {
		return "", nil, fmt.Errorf("etcdutl for etcd %s: %w (run `make etcd-binaries`)", full, err)
	}
	return p, nil, nil
}

// RequireRestoreTool skips the test (fails it under CI=true) unless the
// snapshot restore tool of version is present, as etcdtest.RequireVersion
// does for servers.
func RequireRestoreTool(t testing.TB, version string) {
	t.Helper()
	etcdtest.RequireVersion(t, version)
	if _, _, err := RestoreTool(version); err != nil {
		if v := strings.ToLower(os.Getenv("CI")); v == "true" || v == "1" {
			t.Fatalf("hoststub: %v (CI=true: a missing binary fails the run)", err)
		}
		t.Skipf("hoststub: %v", err)
	}
}

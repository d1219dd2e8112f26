package hoststub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/inventory"

	"github.com/etcdaudit/etcdaudit/internal/gobuild"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the testhost command, built once per test
// binary with `go build` into a directory named for the hash of its sources
// (under the system temp dir), so later runs reuse it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("hoststub: build testhost: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	root, err := gobuild.ModuleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	for _, f := range []string{"internal/hoststub/cmd/testhost/main.go", "internal/hoststub/wire/wire.go"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		sum.Write(b)
	}
	sum.Write([]byte(runtime.Version()))
	dir := filepath.Join(os.TempDir(), "etcdaudit-testhost", hex.EncodeToString(sum.Sum(nil))[:16])
	out := filepath.Join(dir, "testhost")
	if st, err := os.Stat(out); err == nil && st.Mode()&0o111 != 0 {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
	if err := gobuild.Build("./internal/hoststub/cmd/testhost", tmp); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	// Rename is atomic: a concurrent test binary sees the old or the new file.
	return out, os.Rename(tmp, out)
}

// Hooks returns inventory hooks that drive this host through testhost, one
// per remediator hook, the way a user's hooks call ssh or systemctl:
//
//	stop_member:     [testhost, --socket, S, stop, "{{.Member}}"]
//	install_version: [testhost, --socket, S, install, "{{.Member}}", "{{.ToVersion}}"]
//	set_flags:       [testhost, --socket, S, set-flags, "{{.Member}}", --add, "{{.FlagsAdd}}", --drop, "{{.FlagsDrop}}"]
//	check_v2store:   [testhost, --socket, S, check-v2store, "{{.Member}}"]
//	…
func (h *Host) Hooks(t testing.TB) inventory.Hooks {
	t.Helper()
	base := []string{Binary(t), "--socket", h.Socket}
	hook := func(args ...string) []string { return append(append([]string(nil), base...), args...) }
	return inventory.Hooks{
		"stop_member":      hook("stop", "{{.Member}}"),
		"start_member":     hook("start", "{{.Member}}"),
		"install_version":  hook("install", "{{.Member}}", "{{.ToVersion}}"),
		"set_flags":        hook("set-flags", "{{.Member}}", "--add", "{{.FlagsAdd}}", "--drop", "{{.FlagsDrop}}"),
		"restore_snapshot": hook("restore", "{{.Member}}", "{{.Snapshot}}"),
		"stop_writers":     hook("writers-stop", "{{.Cluster}}"),
		"start_writers":    hook("writers-start", "{{.Cluster}}"),
		"set_backend":      hook("set-backend", "{{.Cluster}}", "{{.Backend}}"),
		"verify":           hook("verify", "{{.Member}}"),
		"check_v2store":    hook("check-v2store", "{{.Member}}"),
	}
}

// Inventory writes a fleet file for this host's cluster, named cluster,
// into a temp dir and returns its path: endpoints, TLS files and the root
// password (in a 0600 file) when the cluster has them, and Hooks.
func (h *Host) Inventory(t testing.TB, cluster string) string {
	t.Helper()
	dir := t.TempDir()
	c := map[string]any{"name": cluster, "endpoints": h.Cluster.Endpoints(), "hooks": h.Hooks(t)}
	if f := h.Cluster.TLS; f != nil {
		c["tls"] = map[string]string{"ca": f.CA, "cert": f.ClientCert, "key": f.ClientKey}
	}
	if pw := h.Cluster.RootPassword; pw != "" {
		pf := filepath.Join(dir, "root-password")
		if err := os.WriteFile(pf, []byte(pw), 0o600); err != nil {
			t.Fatalf("hoststub: %v", err)
		}
		c["auth"] = map[string]string{"user": "root", "password_file": pf}
	}
	b, err := yaml.Marshal(map[string]any{"name": "hoststub", "clusters": []any{c}})
	if err != nil {
		t.Fatalf("hoststub: %v", err)
	}
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("hoststub: %v", err)
	}
	return path
}

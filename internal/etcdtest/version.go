package etcdtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

// Embed is the version name of the in-process server (go.etcd.io/etcd/server/v3/embed).
const Embed = "embed"

// fullVersions is the one place a short version maps to the exact release the
// harness runs: tests say "3.6", the cache and the error messages say "3.6.16".
var fullVersions = map[string]string{
	"3.4": "3.4.23", // Debian etcd-server, /usr/bin/etcd
	"3.5": "3.5.35",
	"3.6": "3.6.16",
	"3.7": "3.7.3",
	Embed: "3.5.35", // the server module pinned in go.mod
}

// debianEtcd is where `apt-get install etcd-server` puts 3.4.23.
const debianEtcd = "/usr/bin/etcd"

// ErrMissingBinary says an etcd binary the test asked for is not built or not installed.
var ErrMissingBinary = errors.New("etcd binary missing (run `make etcd-binaries`; 3.4 needs `apt-get install etcd-server`)")

// Versions lists the short version names the harness knows, oldest first, "embed" last.
func Versions() []string {
	var out []string
	for v := range fullVersions {
		if v != Embed {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return append(out, Embed)
}

// ProcessVersions lists the versions that run as real processes: those
// Kill and Pause work on.
func ProcessVersions() []string {
	v := Versions()
	return v[:len(v)-1]
}

// FullVersion maps "3.6" (or "3.6.16", or "v3.6.16") to "3.6.16".
func FullVersion(v string) (string, error) {
	short, err := shortVersion(v)
	if err != nil {
		return "", err
	}
	return fullVersions[short], nil
}

// shortVersion normalises a version name to a key of fullVersions.
func shortVersion(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if _, ok := fullVersions[v]; ok {
		return v, nil
	}
	for short, full := range fullVersions {
		if short != Embed && v == full {
			return short, nil
		}
	}
	return "", fmt.Errorf("etcdtest: unknown etcd version %q (known: %s)", v, strings.Join(Versions(), ", "))
}

// minorAtLeast reports whether a short version is major.minor >= 3.n; embed counts as 3.5.
func minorAtLeast(short string, n int) bool {
	if short == Embed {
		short = "3.5"
	}
	return etcdversion.AtLeast(short, 3, n)
}

// BinaryPath returns the etcd server binary for a version: /usr/bin/etcd for
// 3.4, $ETCDAUDIT_ETCD_DIR/v<full>/etcd for the others, falling back to
// <module root>/.cache/etcd when the variable is unset. It does not look at
// whether the file exists; FindBinary does.
func BinaryPath(version string) (string, error) {
	short, err := shortVersion(version)
	if err != nil {
		return "", err
	}
	switch short {
	case Embed:
		return "", fmt.Errorf("etcdtest: %q runs in-process and has no binary", Embed)
	case "3.4":
		if p := os.Getenv("ETCDAUDIT_ETCD34"); p != "" {
			return p, nil
		}
		return debianEtcd, nil
	}
	dir := os.Getenv("ETCDAUDIT_ETCD_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache", "etcd")
	}
	return filepath.Join(dir, "v"+fullVersions[short], "etcd"), nil
}

// FindBinary is BinaryPath plus a check that the file is an executable;
// the error wraps ErrMissingBinary when it is not there.
func FindBinary(version string) (string, error) {
	p, err := BinaryPath(version)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		full, _ := FullVersion(version)
		return "", fmt.Errorf("etcd %s at %s: %w", full, p, ErrMissingBinary)
	}
	return p, nil
}

// moduleRoot walks up from the working directory (a package dir under go test)
// to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("etcdtest: find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("etcdtest: no go.mod above the working directory; set ETCDAUDIT_ETCD_DIR")
		}
		dir = parent
	}
}

// inCI is true when a missing binary must fail the run rather than skip it.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// RequireVersion skips the test (fails it under CI=true) unless the binary for
// version is present; under -short it skips every version but embed. Call it first in tests that will later Start a member on
// another version, so they skip before building a cluster.
func RequireVersion(t testing.TB, version string) {
	t.Helper()
	short, err := shortVersion(version)
	if err != nil {
		t.Fatalf("%v", err)
		return
	}
	if short == Embed {
		return
	}
	if testing.Short() {
		t.Skipf("etcdtest: -short runs the in-process server only, not etcd %s", fullVersions[short])
		return
	}
	if _, err := FindBinary(short); err != nil {
		if inCI() {
			t.Fatalf("etcdtest: %v (CI=true: a missing binary fails the run)", err)
			return
		}
		t.Skipf("etcdtest: %v", err)
	}
}

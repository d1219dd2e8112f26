package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/history/historytest"
)

// listing is a directory's names with each file's inode, size and mtime.
func listing(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		out = append(out, fmt.Sprintf("%s ino=%d size=%d mtime=%d", e.Name(), st.Ino, fi.Size(), fi.ModTime().UnixNano()))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// The readers work on a state dir they cannot write: the binary runs as
// nobody (the tests run as root, which bypasses permissions) on a 0555 dir
// holding a 0444 history, with no lock gate file; nothing is created or
// changed. A state dir without a history is a clear error and stays empty.
func TestReadersOnReadOnlyStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx := context.Background()
	root := t.TempDir()
	state := filepath.Join(root, "state")
	for d := 0; d < 3; d++ {
		if _, err := history.Record(ctx, state, historytest.Report(historytest.Spec{Clusters: 2, Day: d})); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(state, history.FileName+".lock")); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o555); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	for _, p := range []string{filepath.Dir(root), root, filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(p, 0o755); err != nil { // let nobody reach them
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(state, history.FileName), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(state, 0o755) })
	before := listing(t, state)
	runAs := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ETCDAUDIT_STATE_DIR=")
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String()
	}
	if code, out := runAs("history", "list", "--state-dir", state); code == 0 {
		// sanity: nobody can read but not write here
		if w, _ := runAs("history", "prune", "--keep", "1", "--state-dir", state); w == 0 {
			t.Fatalf("nobody could prune a read-only history: the test does not run without write access\n%s", out)
		}
	}
	for _, args := range [][]string{
		{"history", "list"}, {"history", "list", "-o", "json"}, {"history", "check"}, {"history", "show", "latest~1", "-o", "json"},
		{"drift"}, {"drift", "--from", "latest~2", "-o", "json"}, {"history", "prune", "--keep", "1", "--dry-run"},
	} {
		code, out := runAs(append(args, "--state-dir", state)...)
		if code != 0 && !(args[0] == "drift" && code == 100) {
			t.Errorf("%v on a read-only state dir: exit %d\n%.800s", args, code, out)
		}
	}
	if after := listing(t, state); after != before {
		t.Fatalf("a reader changed the read-only state dir:\nbefore\n%s\nafter\n%s", before, after)
	}
	code, out := runAs("history", "list", "--state-dir", empty)
	if code != 1 || !strings.Contains(out, "no history at "+empty+": run a scan with --state-dir first") {
		t.Fatalf("empty state dir: %d %s", code, out)
	}
	if l := listing(t, empty); l != "" {
		t.Fatalf("a reader created %s", l)
	}
}

//go:build unix

// Package inputfiletest makes, for tests, the paths that are not regular
// files (or are too large to read) that every input of the tool must
// refuse promptly, and a guard that fails a test instead of letting it hang.
package inputfiletest

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Case is a hostile path and the words its error must contain.
type Case struct {
	Name, Path, Want string
}

// Hostile returns a FIFO (nothing ever writes to it), /dev/zero, a
// directory, a socket and a 64 GiB sparse file, in a temp dir of t.
func Hostile(t testing.TB) []Case {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []Case{
		{"fifo", fifo, fifo + " is a FIFO (named pipe), not a regular file"},
		{"dev-zero", "/dev/zero", "/dev/zero is a character device, not a regular file"},
		{"directory", sub, sub + " is a directory, not a regular file"},
		{"socket", sock, sock + " is a socket, not a regular file"},
	}
	sparse := filepath.Join(dir, "sparse")
	if f, err := os.Create(sparse); err == nil {
		if f.Truncate(64<<30) == nil {
			cases = append(cases, Case{"sparse-64GiB", sparse, sparse + " is larger than"})
		}
		f.Close()
	}
	return cases
}

// Within runs f and fails t if it has not returned after 30 seconds: the
// inputs above used to block forever, and a test must fail, not hang.
func Within[T any](t testing.TB, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("did not return within 30s: blocked on its input")
		panic("unreachable")
	}
}

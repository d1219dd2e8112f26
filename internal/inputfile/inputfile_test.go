//go:build unix

package inputfile_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/internal/inputfile/inputfiletest"
)

func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	cases := inputfiletest.Hostile(t)
	link := filepath.Join(t.TempDir(), "link-to-fifo")
	if err := os.Symlink(cases[0].Path, link); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, inputfiletest.Case{Name: "symlink-to-fifo", Path: link, Want: link + " is a FIFO (named pipe), not a regular file"})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			err := inputfiletest.Within(t, func() error {
				_, err := inputfile.Read(context.Background(), c.Path, inputfile.Document)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("inputfile.Read(%s) = %v, want an error containing %q", c.Path, err, c.Want)
			}
		})
	}
}

func TestReadLimitIsExact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := inputfile.Read(context.Background(), p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("Read at the limit = %q, %v", b, err)
	}
	if _, err := inputfile.Read(context.Background(), p, 4); err == nil {
		t.Fatal("Read past the limit succeeded")
	}
	// A file that grows after the size check is still cut at the limit.
	r := inputfile.Limit(context.Background(), strings.NewReader("123456"), "stdin", 5)
	if b, err := io.ReadAll(r); err == nil || string(b) != "12345" {
		t.Fatalf("Limit = %q, %v; want the first 5 bytes and an error", b, err)
	}
}

func TestReadFollowsSymlinksToRegularFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Kubernetes mounts secrets as symlinks into a ..data directory.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if b, err := inputfile.Read(context.Background(), link, inputfile.PEM); err != nil || string(b) != "pem" {
		t.Fatalf("inputfile.Read(symlink) = %q, %v", b, err)
	}
}

func TestLimitStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	zero, err := os.Open("/dev/zero") // an endless stream, as a pipe on stdin can be
	if err != nil {
		t.Skip(err)
	}
	defer zero.Close()
	r := inputfile.Limit(ctx, zero, "stdin", 1<<40)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err = inputfiletest.Within(t, func() error { _, err := io.Copy(io.Discard, r); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read of an endless stream after cancel = %v, want context.Canceled", err)
	}
}

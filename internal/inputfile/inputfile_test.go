//go:build unix

package inputfile

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test instead of hanging when f blocks: the inputs here
// are the ones that used to hang the tool.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("did not return within 20s: blocked")
		return nil
	}
}

// Special creates, in a temp dir, each kind of path that is not a regular
// file, keyed by what the error must call it.
func special(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	link := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		fifo:        "a FIFO (named pipe)",
		link:        "a FIFO (named pipe)",
		"/dev/zero": "a character device",
		dir:         "a directory",
		sock:        "a socket",
	}
}

func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	for path, kind := range special(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			err := within(t, func() error {
				_, err := Read(context.Background(), path, PEM)
				return err
			})
			var nr *NotRegularError
			if !errors.As(err, &nr) {
				t.Fatalf("Read(%s) = %v, want a NotRegularError", path, err)
			}
			if want := path + " is " + kind + ", not a regular file"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestReadRefusesAHugeSparseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	err = within(t, func() error { _, err := Read(context.Background(), p, Document); return err })
	var tl *TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Read(64 GiB sparse) = %v, want a TooLargeError naming the path", err)
	}
}

func TestReadLimitIsExact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(context.Background(), p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("Read at the limit = %q, %v", b, err)
	}
	if _, err := Read(context.Background(), p, 4); err == nil {
		t.Fatal("Read past the limit succeeded")
	}
	// A file that grows after the size check is still cut at the limit.
	r := Limit(context.Background(), strings.NewReader("123456"), "stdin", 5)
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
	if b, err := Read(context.Background(), link, PEM); err != nil || string(b) != "pem" {
		t.Fatalf("Read(symlink) = %q, %v", b, err)
	}
}

func TestLimitStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	zero, err := os.Open("/dev/zero") // an endless stream, as a pipe on stdin can be
	if err != nil {
		t.Skip(err)
	}
	defer zero.Close()
	r := Limit(ctx, zero, "stdin", 1<<40)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err = within(t, func() error { _, err := io.Copy(io.Discard, r); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read of an endless stream after cancel = %v, want context.Canceled", err)
	}
}

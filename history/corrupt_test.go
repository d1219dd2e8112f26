package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/history/historytest"
)

// goodHistory records a few real (synthetic-fleet) scans and returns the
// file's bytes and its page size: large enough for branch pages, overflow
// pages and a freelist, small enough to damage at every page.
func goodHistory(t testing.TB) ([]byte, int) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	for d := 0; d < 6; d++ {
		rep := historytest.Report(historytest.Spec{Clusters: 6, Day: d})
		if _, err := Record(ctx, dir, rep, WithRetention(Retention{Keep: 4})); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b, os.Getpagesize()
}

// exercise runs every reader and writer operation against the history in
// dir and returns the errors it met. It fails the test when an error does
// not name the file or a panic escapes (a fault escaping kills the test
// binary outright, which fails it too).
func exercise(t *testing.T, dir string) []error {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, FileName)
	var errs []error
	note := func(op string, err error) {
		if err == nil {
			return
		}
		errs = append(errs, err)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error does not name %s: %v", op, path, err)
		}
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("panic escaped: %v", p)
			}
		}()
		r, err := Open(ctx, dir, Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
		note("open read-only", err)
		if err == nil {
			list, err := r.List(ctx, 0)
			note("list", err)
			for _, e := range list {
				_, err := r.Get(ctx, e.ID)
				note("get "+e.ID, err)
			}
			note("check", r.Check(ctx))
			_, err = r.SavedRetention(ctx)
			note("saved retention", err)
		}
		w, err := Open(ctx, dir, Options{Create: true, LockTimeout: 200 * time.Millisecond})
		note("open read-write", err)
		if err == nil {
			rep := historytest.Report(historytest.Spec{Clusters: 2, Day: 40})
			rep.ScanID = ""
			_, _, err = w.Put(ctx, rep)
			note("put", err)
		}
	}()
	return errs
}

// assertRecovers replaces the damaged file with a sound one and checks that
// a Store that met the damage reads and writes again: nothing it opened is
// still holding the file's lock.
func assertRecovers(t *testing.T, dir string, s *Store, good []byte) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, FileName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := historytest.Report(historytest.Spec{Clusters: 2, Day: 50})
	rep.ScanID = ""
	if _, _, err := s.Put(ctx, rep); err != nil {
		t.Fatalf("after the file was replaced: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("after the file was replaced: %v", err)
	}
}

func damaged(t *testing.T, good []byte, mutate func([]byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), mutate(append([]byte(nil), good...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTruncatedHistory cuts a real history file at every page boundary and
// inside pages: no panic escapes, every error names the file, and a store
// that met the damage works again once the file is replaced.
func TestTruncatedHistory(t *testing.T) {
	good, page := goodHistory(t)
	var offsets []int
	for off := 0; off < len(good); off += page {
		offsets = append(offsets, off, off+1, off+page/2)
	}
	offsets = append(offsets, len(good)-1)
	corrupt := 0
	for _, off := range offsets {
		if off <= 0 || off >= len(good) {
			continue
		}
		t.Run(fmt.Sprintf("at%d", off), func(t *testing.T) {
			dir := damaged(t, good, func(b []byte) []byte { return b[:off] })
			if errs := exercise(t, dir); len(errs) > 0 {
				corrupt++
				if !errors.Is(errs[0], ErrCorrupt) {
					t.Errorf("first error is not ErrCorrupt: %v", errs[0])
				}
			}
			s, err := NewStore(dir, Options{Create: true, LockTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Check(context.Background())
			assertRecovers(t, dir, s, good)
		})
	}
	if corrupt == 0 {
		t.Fatal("no truncation was noticed: the test damaged nothing")
	}
	t.Logf("%d truncations of a %d-byte history, %d reported corrupt", len(offsets), len(good), corrupt)
}

// TestFlippedPageHeaders flips each byte of each page header (id, flags,
// count, overflow) of a real history file.
func TestFlippedPageHeaders(t *testing.T) {
	good, page := goodHistory(t)
	const header = 16 // bbolt's page header: id 8, flags 2, count 2, overflow 4
	noticed := 0
	for p := 0; p*page < len(good); p++ {
		for i := 0; i < header; i++ {
			off := p*page + i
			t.Run(fmt.Sprintf("page%d/byte%d", p, i), func(t *testing.T) {
				dir := damaged(t, good, func(b []byte) []byte { b[off] ^= 0xff; return b })
				if len(exercise(t, dir)) > 0 {
					noticed++
				}
				s, err := NewStore(dir, Options{Create: true, LockTimeout: 200 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Check(context.Background())
				assertRecovers(t, dir, s, good)
			})
		}
	}
	if noticed == 0 {
		t.Fatal("no flipped header was noticed: the test damaged nothing")
	}
	t.Logf("%d pages × %d header bytes flipped, %d noticed", len(good)/page, header, noticed)
}

// FuzzHistoryFile damages a real history file at fuzzer-chosen places
// (flip a byte, then optionally truncate) and runs every operation on it.
func FuzzHistoryFile(f *testing.F) {
	good, page := goodHistory(f)
	for _, seed := range []struct {
		off   uint32
		xor   byte
		trunc uint32
	}{{0, 0, uint32(len(good) / 2)}, {uint32(2*page + 8), 0xff, 0}, {uint32(3*page + 10), 0x80, 0}, {uint32(page), 1, uint32(len(good) - 1)}} {
		f.Add(seed.off, seed.xor, seed.trunc)
	}
	f.Fuzz(func(t *testing.T, off uint32, xor byte, trunc uint32) {
		dir := damaged(t, good, func(b []byte) []byte {
			b[int(off)%len(b)] ^= xor
			if trunc > 0 {
				b = b[:int(trunc)%len(b)]
			}
			return b
		})
		exercise(t, dir)
	})
}

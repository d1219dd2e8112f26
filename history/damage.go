package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrCorrupt means the history file is damaged (truncated, bad pages, not
// a bbolt file). Its message says what to do; errors.Is finds it.
var ErrCorrupt = errors.New("history corrupt")

type corruptError struct{ path, dir, what string }

func (e *corruptError) Error() string {
	return fmt.Sprintf("%v: %s: %s; move it aside (mv %s %s.damaged): the next scan starts a new history, "+
		"or restore it from a backup and verify that with 'etcdaudit history check --state-dir %s'",
		ErrCorrupt, e.path, e.what, e.path, e.path, e.dir)
}

func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// corrupt is the error for damage found in the file, remembered (see
// damageMemo) until the file changes.
func (s *Store) corrupt(what string) error {
	err := &corruptError{path: s.path, dir: s.dir, what: what}
	s.damage.remember(s.path, err)
	return err
}

// damageMemo is the last damage found and the file it was found in.
type damageMemo struct {
	mu   sync.Mutex
	err  error
	file os.FileInfo
}

func (m *damageMemo) remember(path string, err error) {
	fi, statErr := os.Stat(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	if statErr != nil {
		m.err, m.file = nil, nil
		return
	}
	m.err, m.file = err, fi
}

// known is the remembered damage when path is still the same file,
// unchanged (same inode, size and mtime); nil once it was replaced,
// restored, or moved aside.
func (m *damageMemo) known(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		return nil
	}
	fi, err := os.Stat(path)
	if err == nil && os.SameFile(fi, m.file) && fi.Size() == m.file.Size() && fi.ModTime().Equal(m.file.ModTime()) {
		return m.err
	}
	m.err, m.file = nil, nil
	return nil
}

// withDB opens the file, runs fn and closes it on every path. bbolt trusts
// the file it maps: a damaged page makes it panic, or fault on memory past
// the end of a truncated file. Both become ErrCorrupt here: faults turn
// into panics for this goroutine (debug.SetPanicOnFault), and the file is
// closed, which drops its flock, so the next scan is not "locked" behind a
// dead reader. After a panic the bbolt handle itself is not trusted to
// close (its locks may be held mid-operation): its read-only mapping stays
// until the process exits, one per damaged file, since damageMemo answers
// later calls for the same file without opening it.
func (s *Store) withDB(readOnly bool, fn func(*bolt.DB) error) (err error) {
	if err := s.damage.known(s.path); err != nil {
		return err
	}
	var file *os.File
	defer func() {
		if p := recover(); p != nil {
			if file != nil {
				file.Close()
			}
			err = s.corrupt(fmt.Sprintf("reading it failed (%v)", p))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.lockTimeout, ReadOnly: readOnly,
		// Read the freelist now, in this goroutine: tx.Check would read it
		// in its own, where a fault cannot be recovered.
		PreLoadFreelist: true,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			s.openFlags.Store(int64(flag))
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		}})
	if err != nil {
		return s.openError(err)
	}
	err = s.checkSize(db, file)
	if err == nil {
		err = fn(db)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close history %s: %w", s.path, cerr)
	}
	return err
}

func (s *Store) openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: another etcdaudit holds %s (waited %s)", ErrLocked, s.dir, s.lockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), strings.Contains(err.Error(), "file size too small"):
		return s.corrupt(fmt.Sprintf("bbolt cannot open it (%v)", err))
	}
	return fmt.Errorf("open history %s: %w", s.path, err)
}

// checkSize refuses a file shorter than the pages its meta page counts (a
// truncated copy or a full disk): reading those pages would fault.
func (s *Store) checkSize(db *bolt.DB, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("history %s: %w", s.path, err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); st.Size() < need {
			return s.corrupt(fmt.Sprintf("it is %d bytes but its pages need %d (truncated)", st.Size(), need))
		}
		return nil
	})
}

// walk touches every key and value of every bucket in this goroutine (see
// withDB), so damage faults here, recoverably, before tx.Check reads the
// same pages in a goroutine of its own.
func walk(tx *bolt.Tx) error {
	var sum byte
	var visit func(b *bolt.Bucket) error
	visit = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if len(k) > 0 {
				sum ^= k[0] ^ k[len(k)-1]
			}
			if v == nil {
				if child := b.Bucket(k); child != nil {
					return visit(child)
				}
				return nil
			}
			if len(v) > 0 {
				sum ^= v[0] ^ v[len(v)-1]
			}
			return nil
		})
	}
	err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return visit(b) })
	_ = sum
	return err
}

// lengthsOnly names keys and values in tx.Check's errors by length: the
// default prints their bytes, which for a damaged page may lie past the
// end of the mapping.
type lengthsOnly struct{}

func (lengthsOnly) KeyToString(k []byte) string   { return fmt.Sprintf("<key of %d bytes>", len(k)) }
func (lengthsOnly) ValueToString(v []byte) string { return fmt.Sprintf("<value of %d bytes>", len(v)) }

// checkOverflow bounds every page's overflow count. bbolt trusts them: a
// commit frees the pages it rewrites and the old freelist page one id at a
// time up to the overflow count, and tx.Check counts them the same way, so
// a damaged count of four billion pages kept a writer (or a check) busy,
// allocating, for ever. The tree's pages, overflow included, cannot
// outnumber the file's; the freelist page is checked on its own.
func (s *Store) checkOverflow(tx *bolt.Tx) error {
	st := tx.Cursor().Bucket().Stats()
	pages := st.BranchPageN + st.BranchOverflowN + st.LeafPageN + st.LeafOverflowN
	if hwm := tx.Size() / int64(tx.DB().Info().PageSize); int64(pages) > hwm {
		return s.corrupt(fmt.Sprintf("its buckets claim %d pages but it holds %d (damaged page headers)", pages, hwm))
	}
	return s.checkFreelistPage(tx)
}

// checkFreelistPage bounds the freelist page's overflow count, which
// tx.Check loops over too. bbolt does not say which page holds the
// freelist, so the active meta page (valid checksum, highest txid, as bbolt
// picks it) is read from the file.
func (s *Store) checkFreelistPage(tx *bolt.Tx) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("history %s: %w", s.path, err)
	}
	defer f.Close()
	pageSize := tx.DB().Info().PageSize
	var best []byte
	for i := 0; i < 2; i++ {
		m := make([]byte, 64)
		if _, err := f.ReadAt(m, int64(i*pageSize)+16); err != nil { // after the 16-byte page header
			continue
		}
		h := fnv.New64a()
		h.Write(m[:56])
		if binary.NativeEndian.Uint32(m[0:]) != 0xED0CDAED || binary.NativeEndian.Uint64(m[56:]) != h.Sum64() {
			continue
		}
		if best == nil || binary.NativeEndian.Uint64(m[48:]) > binary.NativeEndian.Uint64(best[48:]) {
			best = m
		}
	}
	if best == nil {
		return s.corrupt("neither meta page is valid")
	}
	freelist := binary.NativeEndian.Uint64(best[32:])
	hwm := uint64(tx.Size() / int64(pageSize))
	if freelist == ^uint64(0) { // not synced (NoFreelistSync)
		return nil
	}
	if freelist >= hwm {
		return s.corrupt(fmt.Sprintf("its freelist page %d lies past its last page %d", freelist, hwm-1))
	}
	info, err := tx.Page(int(freelist))
	if err != nil || info == nil {
		return s.corrupt(fmt.Sprintf("its freelist page %d is unreadable (%v)", freelist, err))
	}
	if freelist+uint64(info.OverflowCount) >= hwm {
		return s.corrupt(fmt.Sprintf("its freelist page %d claims %d overflow pages; the file holds %d pages", freelist, info.OverflowCount, hwm))
	}
	return nil
}

// bboltCheck runs bbolt's page check after walk has read every page.
func (s *Store) bboltCheck(tx *bolt.Tx) error {
	if err := walk(tx); err != nil {
		return err
	}
	if err := s.checkOverflow(tx); err != nil {
		return err
	}
	var first error
	for err := range tx.Check(bolt.WithKVStringer(lengthsOnly{})) { // drain: the checker goroutine blocks otherwise
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return s.corrupt(fmt.Sprintf("bbolt check: %v", first))
	}
	return nil
}

// Probe tells whether the store can be used now: a writer's file is
// opened for writing (created when missing, with Create) and every page is
// read; a reader's is read. serve's /readyz and its scans ask it while the
// history is unusable, and it succeeds again once the file is replaced.
func (s *Store) Probe(ctx context.Context) error {
	if err := s.damage.known(s.path); err != nil {
		return err
	}
	if st, err := os.Stat(s.path); err == nil && st.Size() > 0 {
		if err := s.view(ctx, s.bboltCheck); err != nil {
			return err
		}
	}
	if s.readOnly {
		return nil
	}
	return s.update(ctx, func(*bolt.Tx) error { return nil })
}

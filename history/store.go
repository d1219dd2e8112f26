// Package history keeps every judged scan (report and facts, compressed) in
// a bbolt file under the state directory, and computes drift between two
// scans. bbolt is etcd's own storage engine: one read-write transaction is
// atomic and fsynced, so a crash (even kill -9) leaves either the whole scan
// or none of it.
package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the history file inside the state directory.
const FileName = "history.db"

// Schema is written into the meta bucket; a file with another schema is
// refused rather than misread.
const Schema = "etcdaudit.history/v1"

// DefaultLockTimeout bounds how long an open waits for another process's
// lock on the file before giving up with ErrLocked.
const DefaultLockTimeout = 5 * time.Second

var (
	bucketMeta    = []byte("meta")
	bucketIndex   = []byte("index")   // timekey -> Entry JSON (small: listing never decompresses)
	bucketIDs     = []byte("ids")     // scan id -> timekey
	bucketReports = []byte("reports") // scan id -> gzip(report JSON without facts)
	bucketFacts   = []byte("facts")   // scan id -> gzip(facts JSON)

	keySchema    = []byte("schema")
	keyRetention = []byte("retention")
)

// ErrLocked means another process holds the history file.
var ErrLocked = errors.New("history file locked")

// ErrNoHistory means the state directory holds no history file yet.
var ErrNoHistory = errors.New("no history")

// ErrReadOnly means a write was asked of a Store opened ReadOnly.
var ErrReadOnly = errors.New("history opened read-only")

// ErrInterrupted means a scan was cut short (timeout, signal) and is not
// recorded: the history holds whole scans only.
var ErrInterrupted = errors.New("scan was interrupted")

// ErrNotFound means no recorded scan matches a reference.
var ErrNotFound = errors.New("scan not found")

// Store is the history file of one state directory. It opens the bbolt file
// per operation instead of holding it, so a CLI (`history list`, `drift`) can
// read the history of a running `serve` between its writes: bbolt's flock is
// held only while the file is open.
type Store struct {
	dir         string
	path        string
	lockTimeout time.Duration
	create      bool
	readOnly    bool
	// mu orders this process's opens: flock locks belong to an open file
	// description, so a writer and a reader in the same process would
	// otherwise block each other until the timeout.
	mu sync.RWMutex
	// damage remembers a file found corrupt, so later operations on the
	// same file fail at once instead of opening (and mapping) it again;
	// a replaced or restored file is tried afresh.
	damage damageMemo
	// openFlags records the flags of the last bbolt open (tests check that
	// readers never open for writing).
	openFlags atomic.Int64
}

// Options tune a Store.
type Options struct {
	// Create makes the directory and the file when missing (writers: scan
	// --state-dir, serve). Without it a missing file is ErrNoHistory, so a
	// typo in --state-dir is an error, not an empty history.
	Create bool
	// ReadOnly opens the file read-only and writes nothing at all, not even
	// the lock gate: `history list|show|check` and `drift` work on a
	// read-only state directory (a mounted backup, another user's files).
	ReadOnly bool
	// LockTimeout defaults to DefaultLockTimeout.
	LockTimeout time.Duration
}

// NewStore returns the Store of dir without touching the disk; Open also
// checks the file. serve uses NewStore so that it can start (not ready)
// with a damaged history and recover when the file is replaced.
func NewStore(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("history: no state directory given")
	}
	if opts.Create && opts.ReadOnly {
		return nil, errors.New("history: a read-only store cannot create its file")
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), lockTimeout: opts.LockTimeout,
		create: opts.Create, readOnly: opts.ReadOnly}
	if s.lockTimeout <= 0 {
		s.lockTimeout = DefaultLockTimeout
	}
	return s, nil
}

// Open checks (or with Create, makes) the history file in dir. A reader
// (ReadOnly) only reads: a missing file is ErrNoHistory and nothing is
// created.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	s, err := NewStore(dir, opts)
	if err != nil {
		return nil, err
	}
	if s.readOnly {
		err = s.view(ctx, func(*bolt.Tx) error { return nil })
	} else {
		err = s.update(ctx, func(*bolt.Tx) error { return nil })
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// prepare makes the buckets of a new (or emptied) file and refuses a file
// of another schema. Every write runs it, so a history moved aside under a
// running serve is started afresh by the next scan.
func (s *Store) prepare(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if got := meta.Get(keySchema); got == nil {
		if err := meta.Put(keySchema, []byte(Schema)); err != nil {
			return err
		}
	} else if string(got) != Schema {
		return fmt.Errorf("history %s has schema %q, this etcdaudit reads %q", s.path, got, Schema)
	}
	for _, b := range [][]byte{bucketIndex, bucketIDs, bucketReports, bucketFacts} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// checkReadable refuses, before any read, a file that is not a history of
// this schema: missing buckets mean another program's bbolt file or damage.
func (s *Store) checkReadable(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return s.corrupt("it has no meta bucket (not an etcdaudit history file?)")
	}
	if got := meta.Get(keySchema); string(got) != Schema {
		return fmt.Errorf("history %s has schema %q, this etcdaudit reads %q", s.path, got, Schema)
	}
	for _, b := range [][]byte{bucketIndex, bucketIDs, bucketReports, bucketFacts} {
		if tx.Bucket(b) == nil {
			return s.corrupt(fmt.Sprintf("its %q bucket is missing", b))
		}
	}
	return nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Path is the history file.
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened for reading only.
func (s *Store) ReadOnly() bool { return s.readOnly }

// missing is the error for an absent history file.
func (s *Store) missing() error {
	return fmt.Errorf("%w at %s: run a scan with --state-dir first (no %s there)", ErrNoHistory, s.dir, FileName)
}

// update runs fn in one read-write transaction: all of it lands or none.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("history %s: %w", s.path, ErrReadOnly)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(s.path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("history %s: %w", s.path, err)
		}
		if !s.create {
			return s.missing()
		}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return fmt.Errorf("history: create state directory %s: %w", s.dir, err)
		}
	}
	release, err := s.gate(true)
	if err != nil {
		return err
	}
	defer release()
	return s.named(s.withDB(false, func(db *bolt.DB) error {
		if err := db.View(s.checkOverflow); err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error {
			if err := s.prepare(tx); err != nil {
				return err
			}
			return fn(tx)
		})
	}))
}

// view runs fn in a read-only transaction under a shared lock, so several
// readers (and processes) can read at once. It never creates or modifies a
// file.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s.missing()
	case err != nil:
		return fmt.Errorf("history %s: %w", s.path, err)
	case st.Size() == 0:
		// bbolt would initialise an empty file, which is a write.
		return fmt.Errorf("history %s is empty (0 bytes): no scan was recorded in it", s.path)
	}
	release, err := s.gate(false)
	if err != nil {
		return err
	}
	release()
	return s.named(s.withDB(true, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			if err := s.checkReadable(tx); err != nil {
				return err
			}
			return fn(tx)
		})
	}))
}

// named makes every error of an operation name the history file.
func (s *Store) named(err error) error {
	if err == nil || strings.Contains(err.Error(), s.path) {
		return err
	}
	return fmt.Errorf("history %s: %w", s.path, err)
}

// Check runs bbolt's consistency check (every page reachable exactly once)
// and verifies that the index, ids, reports and facts buckets agree, so a
// torn or hand-edited file is found before it is trusted.
func (s *Store) Check(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		if err := s.bboltCheck(tx); err != nil {
			return err
		}
		idx, ids, reps, facts := tx.Bucket(bucketIndex), tx.Bucket(bucketIDs), tx.Bucket(bucketReports), tx.Bucket(bucketFacts)
		n := 0
		err := idx.ForEach(func(k, v []byte) error {
			n++
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			if tk := ids.Get([]byte(e.ID)); tk == nil || string(tk) != string(k) {
				return fmt.Errorf("history: scan %s: id bucket does not point at its index entry", e.ID)
			}
			if reps.Get([]byte(e.ID)) == nil {
				return fmt.Errorf("history: scan %s: report missing", e.ID)
			}
			if facts.Get([]byte(e.ID)) == nil {
				return fmt.Errorf("history: scan %s: facts missing", e.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, b := range []*bolt.Bucket{ids, reps, facts} {
			if c := b.Stats().KeyN; c != n {
				return fmt.Errorf("history: %d index entries but %d keys in another bucket", n, c)
			}
		}
		return nil
	})
}

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
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
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
	// mu orders this process's opens: flock locks belong to an open file
	// description, so a writer and a reader in the same process would
	// otherwise block each other until the timeout.
	mu sync.RWMutex
}

// Options tune a Store.
type Options struct {
	// Create makes the directory and the file when missing; readers leave
	// it false so a typo in --state-dir is an error, not an empty history.
	Create bool
	// LockTimeout defaults to DefaultLockTimeout.
	LockTimeout time.Duration
}

// Open checks (or with Create, makes) the history file in dir.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("history: no state directory given")
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), lockTimeout: opts.LockTimeout}
	if s.lockTimeout <= 0 {
		s.lockTimeout = DefaultLockTimeout
	}
	if _, err := os.Stat(s.path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("history %s: %w", s.path, err)
		}
		if !opts.Create {
			return nil, fmt.Errorf("%w in %s (no %s; record a scan with --state-dir first)", ErrNoHistory, dir, FileName)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("history: create state directory: %w", err)
		}
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
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
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Path is the history file.
func (s *Store) Path() string { return s.path }

func (s *Store) open(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.lockTimeout, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: another etcdaudit holds %s (waited %s)", ErrLocked, s.dir, s.lockTimeout)
		}
		return nil, fmt.Errorf("open history %s: %w", s.path, err)
	}
	return db, nil
}

// update runs fn in one read-write transaction: all of it lands or none.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	release, err := s.gate(true)
	if err != nil {
		return err
	}
	defer release()
	db, err := s.open(false)
	if err != nil {
		return err
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close history %s: %w", s.path, cerr)
	}
	return err
}

// view runs fn in a read-only transaction under a shared lock, so several
// readers (and processes) can read at once.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	release, err := s.gate(false)
	if err != nil {
		return err
	}
	release()
	db, err := s.open(true)
	if err != nil {
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIndex) == nil || tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("history %s: missing buckets (not an etcdaudit history file?)", s.path)
		}
		return fn(tx)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close history %s: %w", s.path, cerr)
	}
	return err
}

// Check runs bbolt's consistency check (every page reachable exactly once)
// and verifies that the index, ids, reports and facts buckets agree, so a
// torn or hand-edited file is found before it is trusted.
func (s *Store) Check(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine blocks otherwise
			if first == nil {
				first = fmt.Errorf("history %s: bbolt check: %w", s.path, err)
			}
		}
		if first != nil {
			return first
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

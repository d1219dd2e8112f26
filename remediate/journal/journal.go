// Package journal records remediation runs in one bbolt file,
// remediation.db, in the state directory beside the scan history: every run,
// every step with its hook outputs and backups, written in one fsynced
// transaction per call, so a remediator killed at any moment (even by
// SIGKILL) leaves every step it had reported as recorded, and `remediate
// resume` knows where to pick up. The file is opened per operation, not held,
// so `remediate status` can read it while an apply writes.
package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/etcdaudit/etcdaudit/remediate/backup"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

// FileName is the journal inside the state directory.
const FileName = "remediation.db"

// Schema is written into the meta bucket; a file with another schema is
// refused rather than misread.
const Schema = "etcdaudit.remediation/v1"

// LockTimeout bounds how long an operation waits for another process's
// lock on the file (bbolt's flock, held only during one operation).
const LockTimeout = 5 * time.Second

// Run statuses.
const (
	RunRunning    = "running"
	RunPaused     = "paused"
	RunHalted     = "halted"
	RunDone       = "done"
	RunRolledBack = "rolled-back"
)

// Step statuses.
const (
	StepPending    = "pending"
	StepRunning    = "running"
	StepDone       = "done"
	StepFailed     = "failed"
	StepSkipped    = "skipped"
	StepRolledBack = "rolled-back"
)

var (
	runStatuses  = []string{RunRunning, RunPaused, RunHalted, RunDone, RunRolledBack}
	stepStatuses = []string{StepPending, StepRunning, StepDone, StepFailed, StepSkipped, StepRolledBack}
)

var (
	bucketMeta  = []byte("meta")
	bucketRuns  = []byte("runs")  // run id -> Run JSON
	bucketSteps = []byte("steps") // run id -> bucket: big-endian index -> StepRecord JSON
	keySchema   = []byte("schema")
)

var (
	// ErrNoJournal means the state directory holds no journal yet.
	ErrNoJournal = errors.New("no remediation journal")
	// ErrNotFound means no run has that id.
	ErrNotFound = errors.New("run not found")
	// ErrExists means CreateRun was given an id already recorded.
	ErrExists = errors.New("run already recorded")
	// ErrReadOnly means a write on a journal opened with OpenReadOnly.
	ErrReadOnly = errors.New("journal opened read-only")
	// ErrLocked means another process held the file past LockTimeout.
	ErrLocked = errors.New("journal file locked")
)

// Run is one remediation run: an approved plan being applied.
type Run struct {
	ID          string          `json:"id"`
	Plan        json.RawMessage `json:"plan,omitempty"`
	Fingerprint string          `json:"fingerprint,omitempty"`
	Status      string          `json:"status"`
	Approver    string          `json:"approver,omitempty"`
	Started     time.Time       `json:"started"`
	Ended       time.Time       `json:"ended,omitzero"`
	Reason      string          `json:"reason,omitempty"` // why halted, paused or rolled back
}

// StepRecord is one step of a run as last recorded.
type StepRecord struct {
	RunID   string          `json:"run_id"`
	Index   int             `json:"index"`
	Key     string          `json:"key"` // stable step id, e.g. "c1/upgrade/m2/3.6"
	Status  string          `json:"status"`
	Started time.Time       `json:"started,omitzero"`
	Ended   time.Time       `json:"ended,omitzero"`
	Hooks   []hooks.Result  `json:"hooks,omitempty"`
	Backups []backup.Info   `json:"backups,omitempty"`
	Note    string          `json:"note,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // action-specific
}

// Journal is the journal file of one state directory. It is safe for
// concurrent use; other processes see each call's writes once it returns.
type Journal struct {
	path     string
	readOnly bool
	// mu orders this process's opens: flock locks belong to an open file
	// description, so two opens in one process would block each other.
	mu sync.Mutex
}

// Open opens the journal of stateDir for writing, creating the directory
// and the file when missing.
func Open(stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("journal: no state directory given")
	}
	j := &Journal{path: filepath.Join(stateDir, FileName)}
	_, statErr := os.Stat(j.path)
	if errors.Is(statErr, os.ErrNotExist) {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("journal: create state directory: %w", err)
		}
	}
	err := j.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if got := meta.Get(keySchema); got == nil {
			if err := meta.Put(keySchema, []byte(Schema)); err != nil {
				return err
			}
		} else if string(got) != Schema {
			return fmt.Errorf("journal %s has schema %q, this etcdaudit reads %q", j.path, got, Schema)
		}
		for _, b := range [][]byte{bucketRuns, bucketSteps} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		syncDir(stateDir) // the new file's directory entry survives a crash too
	}
	return j, nil
}

// OpenReadOnly opens an existing journal for reading (`remediate status`);
// it never creates or changes anything.
func OpenReadOnly(stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("journal: no state directory given")
	}
	j := &Journal{path: filepath.Join(stateDir, FileName), readOnly: true}
	if _, err := os.Stat(j.path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s (no %s: nothing was applied with this --state-dir)", ErrNoJournal, stateDir, FileName)
		}
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.view(func(*bolt.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return j, nil
}

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Close releases nothing (the file is opened per operation); it exists so
// callers can treat the journal like any other resource.
func (j *Journal) Close() error { return nil }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func (j *Journal) open(readOnly bool) (*bolt.DB, error) {
	// NoSync stays false: every commit is fsynced before Update returns.
	db, err := bolt.Open(j.path, 0o600, &bolt.Options{Timeout: LockTimeout, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: another etcdaudit holds %s (waited %s)", ErrLocked, j.path, LockTimeout)
		}
		return nil, fmt.Errorf("open journal %s: %w", j.path, err)
	}
	return db, nil
}

// update runs fn in one read-write transaction, committed and fsynced
// before it returns: all of fn lands or none of it.
func (j *Journal) update(fn func(*bolt.Tx) error) error {
	if j.readOnly {
		return fmt.Errorf("journal %s: %w", j.path, ErrReadOnly)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	db, err := j.open(false)
	if err != nil {
		return err
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", j.path, cerr)
	}
	return err
}

func (j *Journal) view(fn func(*bolt.Tx) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	db, err := j.open(true)
	if err != nil {
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketRuns) == nil || tx.Bucket(bucketSteps) == nil {
			return fmt.Errorf("journal %s: missing buckets (not an etcdaudit remediation journal?)", j.path)
		}
		if got := meta.Get(keySchema); string(got) != Schema {
			return fmt.Errorf("journal %s has schema %q, this etcdaudit reads %q", j.path, got, Schema)
		}
		return fn(tx)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", j.path, cerr)
	}
	return err
}

// Check runs bbolt's consistency check (every page reachable exactly once)
// and decodes every record, so a torn or hand-edited file is found before a
// resume trusts it.
func (j *Journal) Check() error {
	return j.view(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() { // drain: the checker goroutine blocks otherwise
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("journal %s is inconsistent: %w", j.path, errors.Join(errs...))
		}
		runs, err := readRuns(tx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if _, err := readSteps(tx, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

func validRun(r Run) error {
	switch {
	case r.ID == "":
		return errors.New("journal: a run needs an id")
	case !slices.Contains(runStatuses, r.Status):
		return fmt.Errorf("journal: run %s: status %q is not one of %v", r.ID, r.Status, runStatuses)
	}
	return nil
}

// CreateRun records a new run; an id already recorded is ErrExists.
func (j *Journal) CreateRun(r Run) error {
	if err := validRun(r); err != nil {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		if runs.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("journal: run %s: %w", r.ID, ErrExists)
		}
		if _, err := tx.Bucket(bucketSteps).CreateBucketIfNotExists([]byte(r.ID)); err != nil {
			return err
		}
		return putJSON(runs, []byte(r.ID), r)
	})
}

// UpdateRun replaces a recorded run (status, end, reason).
func (j *Journal) UpdateRun(r Run) error {
	if err := validRun(r); err != nil {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		if runs.Get([]byte(r.ID)) == nil {
			return fmt.Errorf("journal: run %s: %w", r.ID, ErrNotFound)
		}
		return putJSON(runs, []byte(r.ID), r)
	})
}

// Run returns one run.
func (j *Journal) Run(id string) (Run, error) {
	var r Run
	err := j.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRuns).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("journal: run %s: %w", id, ErrNotFound)
		}
		return decode(v, &r, "run "+id)
	})
	return r, err
}

// Runs returns every run, oldest first.
func (j *Journal) Runs() ([]Run, error) {
	var out []Run
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readRuns(tx)
		return err
	})
	return out, err
}

func readRuns(tx *bolt.Tx) ([]Run, error) {
	var out []Run
	err := tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
		var r Run
		if err := decode(v, &r, "run "+string(k)); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	slices.SortStableFunc(out, func(a, b Run) int { return a.Started.Compare(b.Started) })
	return out, err
}

// PutStep records a step (replacing the record of the same index) in its
// own transaction, fsynced before it returns. The run must exist.
func (j *Journal) PutStep(s StepRecord) error {
	switch {
	case s.RunID == "":
		return errors.New("journal: a step needs its run id")
	case s.Index < 0:
		return fmt.Errorf("journal: run %s: step index %d is negative", s.RunID, s.Index)
	case !slices.Contains(stepStatuses, s.Status):
		return fmt.Errorf("journal: run %s step %d: status %q is not one of %v", s.RunID, s.Index, s.Status, stepStatuses)
	}
	return j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSteps).Bucket([]byte(s.RunID))
		if b == nil || tx.Bucket(bucketRuns).Get([]byte(s.RunID)) == nil {
			return fmt.Errorf("journal: step %d of run %s: %w", s.Index, s.RunID, ErrNotFound)
		}
		return putJSON(b, indexKey(s.Index), s)
	})
}

// Steps returns a run's recorded steps by index.
func (j *Journal) Steps(runID string) ([]StepRecord, error) {
	var out []StepRecord
	err := j.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRuns).Get([]byte(runID)) == nil {
			return fmt.Errorf("journal: run %s: %w", runID, ErrNotFound)
		}
		var err error
		out, err = readSteps(tx, runID)
		return err
	})
	return out, err
}

func readSteps(tx *bolt.Tx, runID string) ([]StepRecord, error) {
	b := tx.Bucket(bucketSteps).Bucket([]byte(runID))
	if b == nil {
		return nil, fmt.Errorf("journal %s: run %s has no steps bucket", tx.DB().Path(), runID)
	}
	var out []StepRecord
	err := b.ForEach(func(k, v []byte) error {
		var s StepRecord
		if len(k) != 8 {
			return fmt.Errorf("journal: run %s: step key %x is not an index", runID, k)
		}
		if err := decode(v, &s, fmt.Sprintf("run %s step %d", runID, binary.BigEndian.Uint64(k))); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func indexKey(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func decode(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("journal: %s: unreadable record: %w", what, err)
	}
	return nil
}

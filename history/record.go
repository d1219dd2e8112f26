package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// Entry is one scan as the index lists it: enough to list, pick and trend
// scans without decompressing any report.
type Entry struct {
	ID          string         `json:"id"`
	StartedAt   time.Time      `json:"started_at"`
	FinishedAt  time.Time      `json:"finished_at"`
	RecordedAt  time.Time      `json:"recorded_at"`
	Inventory   string         `json:"inventory,omitempty"`
	ToolVersion string         `json:"tool_version,omitempty"`
	Counts      results.Counts `json:"counts"`
	Clusters    int            `json:"clusters"`
	Members     int            `json:"members"`
	// Compressed sizes, so `history list` shows where the space goes.
	ReportBytes int `json:"report_bytes"`
	FactsBytes  int `json:"facts_bytes"`
}

// Compliance is the share of results that passed or were waived, the number
// the trend shows; 1 when a scan judged nothing.
func (e Entry) Compliance() float64 {
	if e.Counts.Total == 0 {
		return 1
	}
	return float64(e.Counts.Passed+e.Counts.Waived) / float64(e.Counts.Total)
}

// RecordOption tunes Record.
type RecordOption func(*recordConfig)

type recordConfig struct {
	retention   *Retention
	now         func() time.Time
	lockTimeout time.Duration
}

// WithRetention prunes with r in the recording transaction instead of the
// retention saved in the file (`history prune --save`).
func WithRetention(r Retention) RecordOption {
	return func(c *recordConfig) { c.retention = &r }
}

// WithClock injects the time used for retention and RecordedAt (tests).
func WithClock(now func() time.Time) RecordOption {
	return func(c *recordConfig) { c.now = now }
}

// WithLockTimeout bounds the wait for another process's lock.
func WithLockTimeout(d time.Duration) RecordOption {
	return func(c *recordConfig) { c.lockTimeout = d }
}

// Record stores report (and its facts) in dir's history, creating the file
// when needed, and applies retention. It is what `scan --state-dir` and
// `serve` call. The report is not modified; when it has no ScanID one is
// made, and the returned Entry carries it.
func Record(ctx context.Context, dir string, report *results.Report, opts ...RecordOption) (Entry, error) {
	cfg := recordConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := Open(ctx, dir, Options{Create: true, LockTimeout: cfg.lockTimeout})
	if err != nil {
		return Entry{}, err
	}
	e, _, err := s.put(ctx, report, cfg)
	return e, err
}

// Put records report in the store; see Record.
func (s *Store) Put(ctx context.Context, report *results.Report, opts ...RecordOption) (Entry, []Entry, error) {
	cfg := recordConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return s.put(ctx, report, cfg)
}

func (s *Store) put(ctx context.Context, report *results.Report, cfg recordConfig) (Entry, []Entry, error) {
	if report == nil {
		return Entry{}, nil, errors.New("history: record: nil report")
	}
	if report.Facts != nil && report.Facts.Interrupted != "" {
		// A scan cut short judges missing facts as errors: recorded, it
		// would show as drift that never happened.
		return Entry{}, nil, fmt.Errorf("%w (%s): scan %s not recorded", ErrInterrupted, report.Facts.Interrupted, report.ScanID)
	}
	e := newEntry(report, cfg.now())
	if e.ID == "" {
		e.ID = NewScanID(e.StartedAt)
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = e.RecordedAt
	}
	// Compress outside the transaction: the write lock is then held for
	// the bbolt write only.
	stripped := *report
	stripped.Facts = nil
	stripped.ScanID = e.ID
	repBlob, err := compressJSON(&stripped)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("history: record scan %s: report: %w", e.ID, err)
	}
	factsBlob, err := compressJSON(report.Facts)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("history: record scan %s: facts: %w", e.ID, err)
	}
	e.ReportBytes, e.FactsBytes = len(repBlob), len(factsBlob)
	entryJSON, err := json.Marshal(e)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("history: record scan %s: index entry: %w", e.ID, err)
	}
	tk := timeKey(e.StartedAt, e.ID)
	var pruned []Entry
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketIDs)
		if ids.Get([]byte(e.ID)) != nil {
			return fmt.Errorf("history: scan %s is already recorded", e.ID)
		}
		if err := tx.Bucket(bucketIndex).Put(tk, entryJSON); err != nil {
			return err
		}
		if err := ids.Put([]byte(e.ID), tk); err != nil {
			return err
		}
		if err := tx.Bucket(bucketReports).Put([]byte(e.ID), repBlob); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFacts).Put([]byte(e.ID), factsBlob); err != nil {
			return err
		}
		r := cfg.retention
		if r == nil {
			saved, err := savedRetention(tx)
			if err != nil {
				return err
			}
			r = &saved
		}
		pruned, err = pruneTx(tx, *r, cfg.now())
		return err
	})
	if err != nil {
		return Entry{}, nil, fmt.Errorf("record scan %s: %w", e.ID, err)
	}
	return e, pruned, nil
}

func newEntry(r *results.Report, now time.Time) Entry {
	e := Entry{
		ID:          r.ScanID,
		StartedAt:   r.StartedAt.UTC(),
		FinishedAt:  r.FinishedAt.UTC(),
		RecordedAt:  now.UTC(),
		Inventory:   r.Inventory,
		ToolVersion: r.ToolVersion,
		Counts:      r.Summary.Overall,
	}
	if e.Counts.Total == 0 && len(r.Results) > 0 {
		e.Counts = results.Summarize(r.Results).Overall
	}
	if r.Facts != nil {
		e.Clusters = len(r.Facts.Clusters)
		for _, c := range r.Facts.Clusters {
			e.Members += len(c.Members)
		}
	}
	return e
}

// NewScanID makes a sortable, readable id: the start time to the second and
// random bits, e.g. 20261126T092100Z-3f9a1c.
func NewScanID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// timeKey orders the index by start time (big-endian nanoseconds sort as
// bytes), the id breaking ties.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func compressJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxBlob bounds a decompressed blob, so a hostile history file cannot make
// a reader allocate without limit (gzip bombs).
const maxBlob = 1 << 30

func decompressJSON(blob []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return err
	}
	defer zr.Close()
	dec := json.NewDecoder(io.LimitReader(zr, maxBlob))
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

func decodeEntry(k, v []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, fmt.Errorf("history: index entry %x: %w", k, err)
	}
	if e.ID == "" {
		return Entry{}, fmt.Errorf("history: index entry %x has no scan id", k)
	}
	return e, nil
}

// factsOrNil exists so a report recorded without facts reads back with nil
// facts, not an empty document that would look like an empty fleet.
func factsOrNil(f *collectors.Facts) *collectors.Facts {
	if f == nil || (f.Schema == "" && len(f.Clusters) == 0 && f.StartedAt.IsZero()) {
		return nil
	}
	return f
}

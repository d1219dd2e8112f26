package history

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// List returns index entries newest first; limit <= 0 means all. Nothing is
// decompressed.
func (s *Store) List(ctx context.Context, limit int) ([]Entry, error) {
	var out []Entry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIndex).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if limit > 0 && len(out) >= limit {
				break
			}
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Get reads one scan back: the report with its facts attached.
func (s *Store) Get(ctx context.Context, id string) (*results.Report, error) {
	var rep results.Report
	var facts collectors.Facts
	err := s.view(ctx, func(tx *bolt.Tx) error {
		blob := tx.Bucket(bucketReports).Get([]byte(id))
		if blob == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err := decompressJSON(blob, &rep); err != nil {
			return fmt.Errorf("history: scan %s: report is unreadable: %w", id, err)
		}
		if fb := tx.Bucket(bucketFacts).Get([]byte(id)); fb != nil {
			if err := decompressJSON(fb, &facts); err != nil {
				return fmt.Errorf("history: scan %s: facts are unreadable: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Facts = factsOrNil(&facts)
	return &rep, nil
}

// Resolve finds the scan a user means by ref:
//   - "" or "latest": the newest scan; "latest~N" (or "previous" = latest~1)
//     the Nth before it;
//   - a scan id, or an unambiguous prefix of one;
//   - a time (RFC 3339, "2006-01-02T15:04", or a date "2006-01-02", UTC) or
//     an age ("36h", "7d"): the newest scan started at or before it, so
//     `--from 24h` means "as things were a day ago".
func (s *Store) Resolve(ctx context.Context, ref string, now time.Time) (Entry, error) {
	all, err := s.List(ctx, 0)
	if err != nil {
		return Entry{}, err
	}
	return resolveIn(all, ref, now)
}

func resolveIn(all []Entry, ref string, now time.Time) (Entry, error) {
	ref = strings.TrimSpace(ref)
	if len(all) == 0 {
		return Entry{}, fmt.Errorf("%w: the history is empty", ErrNotFound)
	}
	switch {
	case ref == "" || ref == "latest":
		return all[0], nil
	case ref == "previous":
		ref = "latest~1"
	}
	if n, ok := strings.CutPrefix(ref, "latest~"); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 {
			return Entry{}, fmt.Errorf("scan reference %q: want latest~N with N >= 0", ref)
		}
		if i >= len(all) {
			return Entry{}, fmt.Errorf("%w: %q: the history holds only %d scans", ErrNotFound, ref, len(all))
		}
		return all[i], nil
	}
	for _, e := range all {
		if e.ID == ref {
			return e, nil
		}
	}
	if t, ok := parseWhen(ref, now); ok {
		for _, e := range all { // newest first
			if !e.StartedAt.After(t) {
				return e, nil
			}
		}
		return Entry{}, fmt.Errorf("%w: no scan started at or before %s (oldest is %s)", ErrNotFound,
			t.Format(time.RFC3339), all[len(all)-1].StartedAt.Format(time.RFC3339))
	}
	var matches []string
	var found Entry
	for _, e := range all {
		if strings.HasPrefix(e.ID, ref) {
			matches = append(matches, e.ID)
			found = e
		}
	}
	switch len(matches) {
	case 1:
		return found, nil
	case 0:
		return Entry{}, fmt.Errorf("%w: no scan id, prefix, time or age matches %q", ErrNotFound, ref)
	default:
		sort.Strings(matches)
		if len(matches) > 5 {
			matches = append(matches[:5], "…")
		}
		return Entry{}, fmt.Errorf("scan reference %q is ambiguous: %s", ref, strings.Join(matches, ", "))
	}
}

func parseWhen(ref string, now time.Time) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, ref, time.UTC); err == nil {
			if layout == "2006-01-02" { // a date means the end of that day
				t = t.Add(24*time.Hour - time.Nanosecond)
			}
			return t, true
		}
	}
	if d, err := ParseAge(ref); err == nil && d >= 0 {
		return now.Add(-d), true
	}
	return time.Time{}, false
}

// ParseAge reads a Go duration, or a whole number of days written "7d".
func ParseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100_000 { // beyond that a Duration overflows
			return 0, fmt.Errorf("age %q: want a duration like 36h or a number of days like 7d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("age %q: want a duration like 36h or a number of days like 7d", s)
	}
	return d, nil
}

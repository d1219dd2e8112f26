package history

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Retention bounds the history. Keep > 0 keeps that many newest scans;
// MaxAge > 0 drops scans started longer ago. Both may apply. The newest
// scan is never pruned, so a service that was down longer than MaxAge
// still has a baseline to compute drift against.
type Retention struct {
	Keep   int           `json:"keep,omitempty"`
	MaxAge time.Duration `json:"max_age,omitempty"`
}

// IsZero reports whether r prunes nothing.
func (r Retention) IsZero() bool { return r.Keep <= 0 && r.MaxAge <= 0 }

func (r Retention) String() string {
	switch {
	case r.IsZero():
		return "keep everything"
	case r.MaxAge <= 0:
		return fmt.Sprintf("keep the newest %d scans", r.Keep)
	case r.Keep <= 0:
		return fmt.Sprintf("keep scans younger than %s", r.MaxAge)
	default:
		return fmt.Sprintf("keep the newest %d scans younger than %s", r.Keep, r.MaxAge)
	}
}

// Prune deletes what r does not keep, in one transaction, and returns the
// deleted entries oldest first.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) ([]Entry, error) {
	var pruned []Entry
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		pruned, err = pruneTx(tx, r, now)
		return err
	})
	return pruned, err
}

// SaveRetention stores r as the policy every later Record applies (unless
// given its own), so CronJob runs and `serve` share one policy.
func (s *Store) SaveRetention(ctx context.Context, r Retention) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyRetention, b) })
}

// SavedRetention is the policy stored by SaveRetention (zero when none).
func (s *Store) SavedRetention(ctx context.Context) (Retention, error) {
	var r Retention
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = savedRetention(tx)
		return err
	})
	return r, err
}

func savedRetention(tx *bolt.Tx) (Retention, error) {
	var r Retention
	b := tx.Bucket(bucketMeta).Get(keyRetention)
	if b == nil {
		return r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("history: saved retention is unreadable: %w", err)
	}
	return r, nil
}

func pruneTx(tx *bolt.Tx, r Retention, now time.Time) ([]Entry, error) {
	if r.IsZero() {
		return nil, nil
	}
	idx := tx.Bucket(bucketIndex)
	cutoff := now.Add(-r.MaxAge)
	type victim struct {
		key []byte
		e   Entry
	}
	var victims []victim
	c := idx.Cursor()
	n := 0
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		n++
		if n == 1 {
			continue // the newest scan stays
		}
		e, err := decodeEntry(k, v)
		if err != nil {
			return nil, err
		}
		if (r.Keep > 0 && n > r.Keep) || (r.MaxAge > 0 && e.StartedAt.Before(cutoff)) {
			victims = append(victims, victim{append([]byte(nil), k...), e})
		}
	}
	out := make([]Entry, 0, len(victims))
	for i := len(victims) - 1; i >= 0; i-- { // oldest first
		v := victims[i]
		id := []byte(v.e.ID)
		for _, b := range [][]byte{bucketReports, bucketFacts, bucketIDs} {
			if err := tx.Bucket(b).Delete(id); err != nil {
				return nil, err
			}
		}
		if err := idx.Delete(v.key); err != nil {
			return nil, err
		}
		out = append(out, v.e)
	}
	return out, nil
}

package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/results"
)

func day(d int) *results.Report {
	return historytest.Report(historytest.Spec{Clusters: 4, Day: d})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	rep := day(3)
	before := mustJSON(t, rep)
	e, err := Record(ctx, dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, mustJSON(t, rep)) {
		t.Fatal("Record modified the report")
	}
	if e.ID != rep.ScanID || e.Members != 12 || e.Clusters != 4 || e.Counts != rep.Summary.Overall {
		t.Fatalf("entry = %+v", e)
	}
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustJSON(t, got), before) {
		t.Fatalf("read back differs:\n got %s\nwant %s", mustJSON(t, got)[:300], before[:300])
	}
	list, err := s.List(ctx, 0)
	if err != nil || len(list) != 1 || list[0].ID != e.ID || list[0].ReportBytes == 0 || list[0].FactsBytes == 0 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecordMakesIDAndRefusesDuplicates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rep := day(1)
	rep.ScanID = ""
	e, err := Record(ctx, dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ID, "20260102T020000Z-") || rep.ScanID != "" {
		t.Fatalf("id %q, report id %q", e.ID, rep.ScanID)
	}
	s, _ := Open(ctx, dir, Options{})
	got, err := s.Get(ctx, e.ID)
	if err != nil || got.ScanID != e.ID {
		t.Fatalf("stored report id %q, %v", got.ScanID, err)
	}
	dup := day(1)
	dup.ScanID = e.ID
	if _, err := Record(ctx, dir, dup); err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := Record(ctx, dir, nil); err == nil {
		t.Fatal("nil report accepted")
	}
	cut := day(2)
	cut.Facts.Interrupted = "run timeout 1m0s"
	if _, err := Record(ctx, dir, cut); !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("interrupted scan: %v", err)
	}
}

func TestRecordWithoutFacts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rep := day(0)
	rep.Facts = nil
	e, err := Record(ctx, dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Open(ctx, dir, Options{})
	got, err := s.Get(ctx, e.ID)
	if err != nil || got.Facts != nil {
		t.Fatalf("facts %v, err %v", got.Facts, err)
	}
}

func TestOpenWithoutHistory(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "nope"), Options{})
	if !errors.Is(err, ErrNoHistory) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Record(ctx, dir, day(0)); err != nil {
		t.Fatal(err)
	}
	// flock conflicts between open file descriptions even in one process,
	// so a direct bbolt open stands in for another etcdaudit.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = Record(ctx, dir, day(1), WithLockTimeout(200*time.Millisecond))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another etcdaudit holds "+dir) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("lock wait ignored the timeout: %s", time.Since(start))
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), lockTimeout: 200 * time.Millisecond}
	if _, err := s.List(ctx, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("reader under an exclusive lock: %v", err)
	}
}

func TestSchemaMismatchRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(bucketMeta)
		return b.Put(keySchema, []byte("etcdaudit.history/v9"))
	})
	db.Close()
	if _, err := Open(ctx, dir, Options{}); err == nil || !strings.Contains(err.Error(), "v9") {
		t.Fatalf("err = %v", err)
	}
}

func TestCorruptBlobIsAnErrorNotAPanic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := Record(ctx, dir, day(0))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := Record(ctx, dir, day(1))
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReports).Put([]byte(e.ID), []byte("\x1f\x8b garbage"))
	})
	db.Close()
	s, _ := Open(ctx, dir, Options{})
	if _, err := s.Get(ctx, e.ID); err == nil || !strings.Contains(err.Error(), e.ID) {
		t.Fatalf("corrupt blob: %v", err)
	}
	if _, err := s.Get(ctx, e2.ID); err != nil {
		t.Fatalf("a healthy scan beside a corrupt one: %v", err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestCheckFindsOrphans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, _ := Record(ctx, dir, day(0))
	db, _ := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketFacts).Delete([]byte(e.ID)) })
	db.Close()
	s, _ := Open(ctx, dir, Options{})
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "facts missing") {
		t.Fatalf("check: %v", err)
	}
}

func recordDays(t *testing.T, dir string, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := 0; i < n; i++ {
		e, err := Record(context.Background(), dir, day(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestPruneExactly(t *testing.T) {
	ctx := context.Background()
	base := day(0).StartedAt
	cases := []struct {
		name     string
		r        Retention
		now      time.Time
		remain   []int // days left, newest first
		prunedOK []int // days pruned, oldest first
	}{
		{"nothing", Retention{}, base.Add(100 * 24 * time.Hour), []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, nil},
		{"keep 3", Retention{Keep: 3}, base, []int{9, 8, 7}, []int{0, 1, 2, 3, 4, 5, 6}},
		{"keep 1", Retention{Keep: 1}, base, []int{9}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"keep more than there are", Retention{Keep: 50}, base, []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, nil},
		// now = day 9 + 1h; max age 72h keeps days started at or after day 6 + 1h: days 7, 8, 9.
		{"max age", Retention{MaxAge: 72 * time.Hour}, base.Add(9*24*time.Hour + time.Hour), []int{9, 8, 7}, []int{0, 1, 2, 3, 4, 5, 6}},
		{"max age boundary kept", Retention{MaxAge: 72 * time.Hour}, base.Add(9 * 24 * time.Hour), []int{9, 8, 7, 6}, []int{0, 1, 2, 3, 4, 5}},
		{"both: the stricter wins", Retention{Keep: 2, MaxAge: 72 * time.Hour}, base.Add(9 * 24 * time.Hour), []int{9, 8}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"newest kept even when too old", Retention{MaxAge: time.Hour}, base.Add(365 * 24 * time.Hour), []int{9}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			all := recordDays(t, dir, 10)
			s, _ := Open(ctx, dir, Options{})
			pruned, err := s.Prune(ctx, tc.r, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			var wantPruned, wantRemain []string
			for _, d := range tc.prunedOK {
				wantPruned = append(wantPruned, all[d].ID)
			}
			for _, d := range tc.remain {
				wantRemain = append(wantRemain, all[d].ID)
			}
			if strings.Join(ids(pruned), ",") != strings.Join(wantPruned, ",") {
				t.Fatalf("pruned %v, want %v", ids(pruned), wantPruned)
			}
			left, _ := s.List(ctx, 0)
			if strings.Join(ids(left), ",") != strings.Join(wantRemain, ",") {
				t.Fatalf("left %v, want %v", ids(left), wantRemain)
			}
			if err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
			for _, e := range pruned {
				if _, err := s.Get(ctx, e.ID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("pruned %s still readable: %v", e.ID, err)
				}
			}
		})
	}
}

func TestSavedRetentionAppliedOnRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	recordDays(t, dir, 2)
	s, _ := Open(ctx, dir, Options{})
	if err := s.SaveRetention(ctx, Retention{Keep: 3}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.SavedRetention(ctx); err != nil || r.Keep != 3 {
		t.Fatalf("saved %+v %v", r, err)
	}
	for i := 2; i < 6; i++ {
		if _, err := Record(ctx, dir, day(i)); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := s.List(ctx, 0)
	if len(left) != 3 || left[0].ID != day(5).ScanID || left[2].ID != day(3).ScanID {
		t.Fatalf("left %v", ids(left))
	}
	// An explicit retention overrides the saved one.
	if _, err := Record(ctx, dir, day(6), WithRetention(Retention{Keep: 1})); err != nil {
		t.Fatal(err)
	}
	if left, _ = s.List(ctx, 0); len(left) != 1 {
		t.Fatalf("left %v", ids(left))
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	all := recordDays(t, dir, 5) // days 0..4, 2026-01-01..05 02:00Z
	s, _ := Open(ctx, dir, Options{})
	now := all[4].StartedAt.Add(time.Hour)
	cases := map[string]string{
		"":                     all[4].ID,
		"latest":               all[4].ID,
		"previous":             all[3].ID,
		"latest~4":             all[0].ID,
		all[2].ID:              all[2].ID,
		all[2].ID[:20]:         all[2].ID, // unique prefix
		"2026-01-03":           all[2].ID, // end of that day
		"2026-01-03T01:59":     all[1].ID,
		"2026-01-03T02:00:00Z": all[2].ID,
		"25h":                  all[3].ID,
		"2d":                   all[2].ID,
	}
	for ref, want := range cases {
		e, err := s.Resolve(ctx, ref, now)
		if err != nil || e.ID != want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", ref, e.ID, err, want)
		}
	}
	for _, ref := range []string{"latest~5", "latest~x", "2025-12-31", "zzz", "20260"} {
		if _, err := s.Resolve(ctx, ref, now); err == nil {
			t.Errorf("Resolve(%q) succeeded", ref)
		}
	}
	if _, err := s.Resolve(ctx, "2026010", now); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

func TestEmptyHistoryResolve(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "latest", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestGarbageFileIsAnError(t *testing.T) {
	for name, content := range map[string][]byte{
		"random": []byte("this is not a bbolt file, just text that someone put here\n"),
		"empty":  {},
		"zeros":  make([]byte, 64<<10),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), dir, Options{})
			if name == "empty" {
				// bbolt initialises an empty file: a fresh history.
				if err != nil {
					t.Fatalf("empty file: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// A reader (say `etcdaudit drift` beside a running serve) works while
// another opener writes: the file is locked per operation, not held.
func TestReaderBesideWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Record(ctx, dir, day(0)); err != nil {
		t.Fatal(err)
	}
	writer, _ := Open(ctx, dir, Options{})
	reader, _ := Open(ctx, dir, Options{}) // its own Store: no shared mutex, only the flock
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= 15; i++ {
			if _, _, err := writer.Put(ctx, day(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	reads := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			l, err := reader.List(ctx, 0)
			if err != nil || len(l) != 16 {
				t.Fatalf("%d scans, %v", len(l), err)
			}
			t.Logf("%d reads while 15 scans were written", reads)
			return
		default:
		}
		l, err := reader.List(ctx, 1)
		if err != nil {
			t.Fatalf("read beside a writer: %v", err)
		}
		if _, err := reader.Get(ctx, l[0].ID); err != nil {
			t.Fatal(err)
		}
		reads++
	}
}

// fileState is what a reader must leave as it was: the directory's names,
// and each file's inode, size and modification time.
func fileState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		var ino uint64
		if st != nil {
			ino = st.Ino
		}
		out[e.Name()] = fmt.Sprintf("ino=%d size=%d mtime=%d mode=%v", ino, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
	}
	return out
}

// Readers (history list|show|check, drift) open the file read-only and
// create or touch nothing, not even the lock gate.
func TestReaderWritesNothing(t *testing.T) {
	ctx := context.Background()
	for _, withGate := range []bool{true, false} {
		dir := t.TempDir()
		recordDays(t, dir, 3)
		if !withGate { // a history copied from a backup has no gate file
			if err := os.Remove(filepath.Join(dir, FileName+".lock")); err != nil {
				t.Fatal(err)
			}
		}
		before := fileState(t, dir)
		time.Sleep(20 * time.Millisecond) // an mtime written now would differ
		s, err := Open(ctx, dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, 0)
		if err != nil || len(list) != 3 {
			t.Fatalf("list: %d, %v", len(list), err)
		}
		if _, err := s.Get(ctx, list[1].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Resolve(ctx, "latest~1", time.Now()); err != nil {
			t.Fatal(err)
		}
		if flags := s.openFlags.Load(); flags&int64(os.O_RDWR|os.O_WRONLY|os.O_CREATE) != 0 {
			t.Fatalf("reader opened the file with flags %#x", flags)
		}
		if _, _, err := s.Put(ctx, day(9)); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("put on a read-only store: %v", err)
		}
		if after := fileState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a reader changed the state dir (gate file present: %v):\nbefore %v\nafter  %v", withGate, before, after)
		}
	}
}

// A reader given a state dir without a history says so and creates
// nothing: not the file, not the directory.
func TestReaderMissingHistoryCreatesNothing(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	absent := filepath.Join(t.TempDir(), "typo")
	for _, dir := range []string{empty, absent} {
		_, err := Open(ctx, dir, Options{ReadOnly: true})
		if !errors.Is(err, ErrNoHistory) || !strings.Contains(err.Error(), "no history at "+dir+": run a scan with --state-dir first") {
			t.Fatalf("err = %v", err)
		}
		if got := fileState(t, dir); len(got) != 0 {
			t.Fatalf("a reader created %v", got)
		}
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a reader created the state dir: %v", err)
	}
	// A writer that does not create (prune) refuses too.
	if _, err := Open(ctx, empty, Options{}); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("prune-style open: %v", err)
	}
	if got := fileState(t, empty); len(got) != 0 {
		t.Fatalf("a non-creating writer created %v", got)
	}
}

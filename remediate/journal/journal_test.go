package journal_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/remediate/backup"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	run := journal.Run{ID: "r1", Plan: json.RawMessage(`{"schema":"etcdaudit.plan/v1"}`), Fingerprint: "fp", Status: journal.RunRunning, Approver: "alice", Started: start}
	if err := j.CreateRun(run); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateRun(run); !errors.Is(err, journal.ErrExists) {
		t.Errorf("second CreateRun: %v", err)
	}
	if err := j.CreateRun(journal.Run{ID: "r0", Status: journal.RunDone, Started: start.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	steps := []journal.StepRecord{
		{RunID: "r1", Index: 2, Key: "c/upgrade/m2", Status: journal.StepPending},
		{RunID: "r1", Index: 0, Key: "c/backup", Status: journal.StepDone, Started: start, Ended: start.Add(time.Second),
			Backups: []backup.Info{{Path: "/s/snap.db", SHA256: "ab", Size: 10, Revision: 7, TotalKeys: 3, Hash: 42, Taken: start}}},
		{RunID: "r1", Index: 1, Key: "c/upgrade/m1", Status: journal.StepRunning,
			Hooks: []hooks.Result{{Name: hooks.StopMember, Argv: []string{"systemctl", "stop", "etcd"}, Output: "ok\n", Started: start, Duration: time.Second}},
			Data:  json.RawMessage(`{"keys":[["/a",5]]}`)},
	}
	for _, s := range steps {
		if err := j.PutStep(s); err != nil {
			t.Fatal(err)
		}
	}
	steps[2].Status, steps[2].Note = journal.StepDone, "member back on 3.6.16"
	if err := j.PutStep(steps[2]); err != nil {
		t.Fatal(err)
	}
	run.Status, run.Ended, run.Reason = journal.RunHalted, start.Add(time.Minute), "verify failed"
	if err := j.UpdateRun(run); err != nil {
		t.Fatal(err)
	}

	r, err := journal.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Steps("r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "c/backup" || got[1].Note != "member back on 3.6.16" || got[2].Index != 2 {
		t.Fatalf("steps %+v", got)
	}
	if got[0].Backups[0] != steps[1].Backups[0] || got[1].Hooks[0].Output != "ok\n" || string(got[1].Data) != `{"keys":[["/a",5]]}` {
		t.Errorf("step contents changed: %+v", got)
	}
	gr, err := r.Run("r1")
	if err != nil || gr.Status != journal.RunHalted || gr.Reason != "verify failed" || !gr.Ended.Equal(run.Ended) || string(gr.Plan) != string(run.Plan) {
		t.Errorf("run %+v %v", gr, err)
	}
	runs, err := r.Runs()
	if err != nil || len(runs) != 2 || runs[0].ID != "r0" {
		t.Errorf("runs %+v %v", runs, err)
	}
	if err := r.Check(); err != nil {
		t.Error(err)
	}

	for name, err := range map[string]error{
		"write read-only":  r.PutStep(steps[0]),
		"unknown run":      j.PutStep(journal.StepRecord{RunID: "nope", Status: journal.StepDone}),
		"update unknown":   j.UpdateRun(journal.Run{ID: "nope", Status: journal.RunDone}),
		"bad step status":  j.PutStep(journal.StepRecord{RunID: "r1", Status: "finished"}),
		"bad run status":   j.CreateRun(journal.Run{ID: "r2", Status: "ok"}),
		"negative index":   j.PutStep(journal.StepRecord{RunID: "r1", Index: -1, Status: journal.StepDone}),
		"run without id":   j.CreateRun(journal.Run{Status: journal.RunRunning}),
		"step without run": j.PutStep(journal.StepRecord{Status: journal.StepDone}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := r.Run("nope"); !errors.Is(err, journal.ErrNotFound) {
		t.Errorf("Run(nope): %v", err)
	}
	if _, err := r.Steps("nope"); !errors.Is(err, journal.ErrNotFound) {
		t.Errorf("Steps(nope): %v", err)
	}
}

func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	if _, err := journal.OpenReadOnly(dir); !errors.Is(err, journal.ErrNoJournal) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s", dir)
	}
}

func TestGarbageFileIsAnError(t *testing.T) {
	for name, content := range map[string][]byte{
		"random": []byte("this is not a bbolt file, just text that someone put here\n"),
		"zeros":  make([]byte, 64<<10),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, journal.FileName)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := journal.Open(dir); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("Open: %v", err)
			}
			if _, err := journal.OpenReadOnly(dir); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenReadOnly: %v", err)
			}
		})
	}
}

// TestReaderBesideWriter: `remediate status` reads while an apply writes,
// each through its own Journal (only the file lock is shared).
func TestReaderBesideWriter(t *testing.T) {
	dir := t.TempDir()
	w, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CreateRun(journal.Run{ID: "r", Status: journal.RunRunning, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r, err := journal.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 30 {
			if err := w.PutStep(journal.StepRecord{RunID: "r", Index: i, Status: journal.StepDone}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	last := 0
	for {
		steps, err := r.Steps("r")
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) < last {
			t.Fatalf("steps went from %d to %d", last, len(steps))
		}
		last = len(steps)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if steps, _ := r.Steps("r"); len(steps) != 30 {
				t.Fatalf("%d steps, want 30", len(steps))
			}
			return
		default:
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/history/historytest"
	"github.com/etcdaudit/etcdaudit/results"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHistoryAndDriftCLI(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	code, _, stderr := runCLI(t, "history", "list", "--state-dir", filepath.Join(dir, "missing"))
	if code != 1 || !strings.Contains(stderr, "no history") {
		t.Fatalf("missing history: %d %s", code, stderr)
	}
	var ids []string
	for d := 8; d <= 10; d++ { // day 10: cluster 0 upgrades, its first member is down
		e, err := history.Record(ctx, dir, historytest.Report(historytest.Spec{Clusters: 3, Day: d}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	code, out, stderr := runCLI(t, "history", "list", "--state-dir", dir)
	if code != 0 || strings.Count(out, "\n") != 4 || strings.Index(out, ids[2]) > strings.Index(out, ids[0]) {
		t.Fatalf("list: %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "history", "list", "--state-dir", dir, "-o", "json", "-n", "1")
	var entries []history.Entry
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 1 || entries[0].ID != ids[2] {
		t.Fatalf("list json: %s", out)
	}
	code, out, _ = runCLI(t, "history", "show", ids[1][:18]+"", "--state-dir", dir, "-o", "json")
	var rep results.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.ScanID != ids[1] || rep.Facts == nil {
		t.Fatalf("show json: %d %.300s", code, out)
	}

	// Day 9 → 10 got worse (a member went down): exit 100.
	code, out, stderr = runCLI(t, "drift", "--state-dir", dir)
	if code != 100 || !strings.Contains(out, "member_unreachable") || !strings.Contains(out, "member_upgraded") {
		t.Fatalf("drift: %d\n%s%s", code, out, stderr)
	}
	// Day 8 → 9 changed nothing for the worse: exit 0.
	code, out, stderr = runCLI(t, "drift", "--state-dir", dir, "--from", ids[0], "--to", "previous", "-o", "markdown")
	if code != 0 || !strings.Contains(out, "no change for the worse") {
		t.Fatalf("drift 8→9: %d\n%s%s", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "drift", "--state-dir", dir, "--from", "latest", "--to", ids[0])
	if code != 1 || !strings.Contains(stderr, "swap them") {
		t.Fatalf("reversed drift: %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "drift", "--state-dir", dir, "-o", "yaml")
	if code != 1 || !strings.Contains(stderr, "yaml") {
		t.Fatalf("bad format: %d %s", code, stderr)
	}

	// Saved reports work without a history.
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for i, p := range []string{a, b} {
		raw, _ := json.Marshal(historytest.Report(historytest.Spec{Clusters: 3, Day: 9 + i}))
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = runCLI(t, "drift", "--from-file", a, "--to-file", b, "-o", "json")
	var d history.Drift
	if code != 100 || json.Unmarshal([]byte(out), &d) != nil || !d.Worse {
		t.Fatalf("drift files: %d %.200s", code, out)
	}

	code, out, _ = runCLI(t, "history", "prune", "--state-dir", dir, "--keep", "2", "--dry-run")
	if code != 0 || !strings.Contains(out, "would delete "+ids[0]) || !strings.Contains(out, "would delete 1 of 3") {
		t.Fatalf("dry run: %s", out)
	}
	code, out, _ = runCLI(t, "history", "prune", "--state-dir", dir, "--keep", "2", "--save")
	if code != 0 || !strings.Contains(out, "deleted "+ids[0]) || !strings.Contains(out, "saved") {
		t.Fatalf("prune: %s", out)
	}
	code, out, _ = runCLI(t, "history", "check", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "OK, 2 scans, retention: keep the newest 2 scans") {
		t.Fatalf("check: %s", out)
	}
	// One scan only: drift says so and succeeds.
	one := t.TempDir()
	if _, err := history.Record(ctx, one, historytest.Report(historytest.Spec{})); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "drift", "--state-dir", one)
	if code != 0 || !strings.Contains(stderr, "nothing to compare") {
		t.Fatalf("single scan: %d %s", code, stderr)
	}
}

func TestRecordScanHelper(t *testing.T) {
	ctx := context.Background()
	a := &app{}
	if err := recordScan(ctx, a, "", historytest.Report(historytest.Spec{})); err != nil {
		t.Fatal("no state dir must be a no-op")
	}
	dir := filepath.Join(t.TempDir(), "state")
	rep := historytest.Report(historytest.Spec{})
	if err := recordScan(ctx, a, dir, rep); err != nil {
		t.Fatal(err)
	}
	cut := historytest.Report(historytest.Spec{Day: 1})
	cut.Facts.Interrupted = "signal"
	if err := recordScan(ctx, a, dir, cut); !errors.Is(err, history.ErrInterrupted) {
		t.Fatalf("interrupted: %v", err)
	}
	s, err := history.Open(ctx, dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(ctx, 0); len(l) != 1 || l[0].ID != rep.ScanID {
		t.Fatalf("recorded %v", l)
	}
}

// TestDriftReleaseCandidateToRelease: a member moving from 3.6.0-rc.1 to
// 3.6.0 is an upgrade, so drift reports member_upgraded and exits 0.
func TestDriftReleaseCandidateToRelease(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, v := range []string{"3.6.0-rc.1", "3.6.0"} {
		rep := historytest.Report(historytest.Spec{Clusters: 1, Day: 9})
		rep.Facts.Clusters[0].Members[0].Version.Server = v
		raw, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, v+".json")
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	code, out, stderr := runCLI(t, "drift", "--from-file", files[0], "--to-file", files[1])
	if code != 0 || !strings.Contains(out, "member_upgraded") || strings.Contains(out, "downgraded") {
		t.Fatalf("drift rc → final: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "drift", "--from-file", files[1], "--to-file", files[0])
	if code != 100 || !strings.Contains(out, "member_downgraded") {
		t.Fatalf("drift final → rc: exit %d\n%s", code, out)
	}
}

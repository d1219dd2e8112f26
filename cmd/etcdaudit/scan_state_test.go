package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/demo"
)

// TestScanStateDir is the CronJob mode: each `scan --state-dir` records the
// judged scan, so `history list` and `drift` see it exactly as they see the
// scans of `serve`.
func TestScanStateDir(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet, err := demo.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	state := t.TempDir()
	for i := 0; i < 2; i++ {
		code, out, stderr := runCLI(t, "scan", "-f", fleet.Inventory, "--state-dir", state, "--color", "never")
		if code != 100 {
			t.Fatalf("scan %d: exit %d, want 100 (the demo fleet fails controls)\n%s\n%s", i, code, out, stderr)
		}
	}
	code, out, stderr := runCLI(t, "history", "list", "--state-dir", state)
	if code != 0 {
		t.Fatalf("history list: exit %d: %s", code, stderr)
	}
	if n := strings.Count(out, "\n") - 1; n != 2 {
		t.Fatalf("history list shows %d scans, want 2:\n%s", n, out)
	}
	// Nothing changed between the two scans: drift finds nothing worse.
	code, out, stderr = runCLI(t, "drift", "--state-dir", state)
	if code != 0 {
		t.Fatalf("drift: exit %d, want 0\n%s\n%s", code, out, stderr)
	}
	// A state dir that cannot be written is the tool's failure, not 100.
	bad := filepath.Join(fleet.Inventory, "not-a-dir")
	code, _, stderr = runCLI(t, "scan", "-f", fleet.Inventory, "--state-dir", bad)
	if code != 1 || !strings.Contains(stderr, "record scan") {
		t.Fatalf("unwritable state dir: exit %d, want 1: %s", code, stderr)
	}
}

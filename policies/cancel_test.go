package policies

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEvaluateCancel: a cancelled or expired context stops an evaluation
// stuck in a slow control, and Evaluate says why, instead of judging on.
func TestEvaluateCancel(t *testing.T) {
	dir := t.TempDir()
	// 25 million iterations a member: minutes for the fleet below.
	writeMemberControl(t, dir, "slow", "loop", "deny contains \"never\" if {\n\tsome a in numbers.range(1, 5000)\n\tsome b in numbers.range(1, 5000)\n\ta * b == -1\n}\n")
	e, err := New(context.Background(), Config{PolicyDirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Evaluate(cancelled, syntheticFleet(5)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v, want context.Canceled", err)
	}
	ctx, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	start := time.Now()
	_, err = e.Evaluate(ctx, syntheticFleet(5))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline during a slow control: %v, want context.DeadlineExceeded", err)
	}
	// Generous: the whole evaluation would take minutes.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("returned %v after the deadline", d)
	}
}

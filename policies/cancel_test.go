package policies

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
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

// TestEvalTimeout: a control slower than the evaluation deadline is an
// error naming it and the deadline, on every member, and the other
// controls of the same evaluation are judged as without it. It is run to
// its deadline once per worker at most, not once per member: later
// members say it was not evaluated again. The deadline is thousands of
// times what a bundled control takes, so a loaded machine cannot push one
// past it.
func TestEvalTimeout(t *testing.T) {
	dir := t.TempDir()
	writeMemberControl(t, dir, "slow", "loop", "deny contains \"never\" if {\n\tsome a in numbers.range(1, 5000)\n\tsome b in numbers.range(1, 5000)\n\ta * b == -1\n}\n")
	ids := memberControlIDs(t)
	ctx := context.Background()
	e, err := New(ctx, Config{PolicyDirs: []string{dir}, EvalTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := New(ctx, Config{Controls: ids})
	if err != nil {
		t.Fatal(err)
	}
	f := syntheticFleet(40)
	start := time.Now()
	rs, err := e.Evaluate(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	want, err := ref.Evaluate(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]results.Result{}
	for _, r := range want {
		byKey[r.Cluster+"/"+r.Member+"/"+r.Control] = r
	}
	slow, ran := 0, 0
	for _, r := range rs {
		if r.Control == "TEST-SLOW-loop" {
			slow++
			if !strings.Contains(strings.Join(r.Messages, " "), "not evaluated:") {
				ran++
			}
			msg := strings.Join(r.Messages, " ")
			if r.Status != results.Error || !strings.Contains(msg, "TEST-SLOW-loop") || !strings.Contains(msg, "evaluation deadline of 2s") {
				t.Errorf("%s/%s: %s %q, want an error naming the control and the deadline", r.Cluster, r.Member, r.Status, msg)
			}
			continue
		}
		if w, ok := byKey[r.Cluster+"/"+r.Member+"/"+r.Control]; ok && !reflect.DeepEqual(r, w) {
			t.Errorf("%s/%s %s: %s %q, want %s %q as without the slow control", r.Cluster, r.Member, r.Control, r.Status, r.Messages, w.Status, w.Messages)
		}
	}
	if slow != countMembers(f) {
		t.Errorf("%d results for the slow control, want %d", slow, countMembers(f))
	}
	t.Logf("judged %d members with a slow control in %v; run to its deadline on %d", countMembers(f), took, ran)
	if ran == 0 || ran > runtime.GOMAXPROCS(0) {
		t.Errorf("the slow control ran to its deadline on %d members, want 1..%d (one per worker at most)", ran, runtime.GOMAXPROCS(0))
	}
}

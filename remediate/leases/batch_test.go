package leases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestInBatches: a transaction refused as too large halves the shared limit
// (once per size, however many workers see the refusal), items a
// transaction hands back go first into the next one, and any other error
// ends the loop.
func TestInBatches(t *testing.T) {
	items := make([]int, 20)
	for i := range items {
		items[i] = i
	}
	l := NewOpsLimit(16, "test", nil)
	var sizes []int
	var done []int
	retried := false
	err := InBatches(t.Context(), items, l, func(_ context.Context, part []int) ([]int, error) {
		sizes = append(sizes, len(part))
		if len(part) > 5 { // the server's --max-txn-ops is 5
			return nil, fmt.Errorf("guarded put: %w", rpctypes.ErrTooManyOps)
		}
		if !retried && slices.Contains(part, 7) { // 7 changed meanwhile: try it again
			retried = true
			done = append(done, part[:len(part)-1]...)
			return []int{7}, nil
		}
		done = append(done, part...)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Ops() != 4 {
		t.Errorf("limit %d after refusals at 16 and 8, want 4", l.Ops())
	}
	if want := []int{16, 8, 4, 4, 4, 4, 4, 1}; !slices.Equal(sizes, want) {
		t.Errorf("transaction sizes %v, want %v", sizes, want)
	}
	slices.Sort(done)
	if !slices.Equal(done, items) {
		t.Errorf("items dealt with %v, want each of %v once", done, items)
	}

	// Another worker lowered the limit already: a refusal at a size above
	// it does not halve it again.
	l = NewOpsLimit(16, "test", nil)
	l.refused(16)
	l.refused(16)
	if l.Ops() != 8 {
		t.Errorf("two refusals of 16 ops left the limit at %d, want 8", l.Ops())
	}

	boom := errors.New("boom")
	calls := 0
	err = InBatches(t.Context(), items, NewOpsLimit(4, "test", nil), func(context.Context, []int) ([]int, error) {
		calls++
		return nil, boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("InBatches = %v after %d calls, want boom after 1", err, calls)
	}
}

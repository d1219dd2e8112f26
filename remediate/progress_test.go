package remediate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

func TestProgressBar(t *testing.T) {
	for _, tc := range []struct {
		elapsed, expected time.Duration
		want              string
	}{
		{20 * time.Second, time.Minute, "20s of ~1m0s [######--------------]"},
		{0, time.Minute, "0s of ~1m0s [--------------------]"},
		{70 * time.Second, time.Minute, "1m10s, past the ~1m0s expected [####################]"},
		{1500 * time.Millisecond, 0, "2s"},
	} {
		if got := progressBar(tc.elapsed, tc.expected); got != tc.want {
			t.Errorf("progressBar(%s, %s) = %q, want %q", tc.elapsed, tc.expected, got, tc.want)
		}
	}
}

// TestLockLostHaltsBeforeNextStep: the coordination lease behind a running
// apply's lock is revoked (as when the coordination etcd was unreachable for
// a TTL) while the verify hook of the first step runs; the run halts before
// its next step, naming the lost lock, and no member is touched after. The
// long member steps print running lines with a bar meanwhile.
func TestLockLostHaltsBeforeNextStep(t *testing.T) {
	etcdtest.RequireVersion(t, "3.6")
	etcdtest.RequireVersion(t, "3.7")
	coord := etcdtest.NewCluster(t, etcdtest.WithVersion(etcdtest.Embed))
	ccli := coord.Client(t)
	w := newWorld(t, "lost", etcdtest.WithVersion("3.6"))
	w.eng.LockEtcd, w.eng.LockTTL = ccli, 2*time.Second
	w.eng.ProgressEvery = 100 * time.Millisecond
	p := w.plan(t, Options{})
	if len(p.Clusters) != 1 || len(p.Clusters[0].Steps) < 2 {
		t.Fatalf("plan: %+v", p)
	}
	var once sync.Once
	var revokeErr error
	w.h.SetProbe(func(ctx context.Context, member string) error {
		once.Do(func() {
			resp, err := ccli.Leases(ctx)
			if err != nil {
				revokeErr = err
				return
			}
			for _, l := range resp.Leases {
				if _, err := ccli.Revoke(ctx, l.ID); err != nil {
					revokeErr = err
				}
			}
			// The session's keep-alive (every TTL/3) learns of the
			// revocation; give it many periods, even on a loaded machine.
			time.Sleep(5 * time.Second)
		})
		return nil
	})
	out, err := w.eng.Apply(t.Context(), p, ApplyOptions{Approve: true, NoCanaryPause: true})
	if revokeErr != nil {
		t.Fatalf("revoke: %v", revokeErr)
	}
	if !errors.Is(err, ErrLockLost) || out.Status != journal.RunHalted || !strings.Contains(out.Reason, p.Clusters[0].Steps[1].ID) {
		t.Fatalf("apply after the lease was revoked: %+v %v", out, err)
	}
	verifies := 0
	for _, op := range w.h.Ops() {
		if strings.HasPrefix(op, "verify") {
			verifies++
		}
		if strings.HasPrefix(op, "stop ") && verifies > 0 {
			t.Errorf("a member was stopped after the lock was lost: %v", w.h.Ops())
		}
	}
	if verifies != 1 {
		t.Errorf("verify ran %d times, want once (only the first step ran): %v", verifies, w.h.Ops())
	}
}

package leases

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{rpctypes.ErrTimeout, true},
		{fmt.Errorf("guarded re-put: %w", rpctypes.ErrTimeout), true},
		{rpctypes.ErrNoLeader, true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{fmt.Errorf("x: %w", status.Error(codes.Unavailable, "eof")), true},
		{rpctypes.ErrCompacted, false},
		{rpctypes.ErrTooManyOps, false},
		{rpctypes.ErrPermissionDenied, false},
		{errors.New("boom"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

func TestRetry(t *testing.T) {
	calls := 0
	err := Retry(t.Context(), func() error {
		if calls++; calls < 3 {
			return rpctypes.ErrTimeout
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls; want success on the third", err, calls)
	}
	calls = 0
	err = Retry(t.Context(), func() error { calls++; return rpctypes.ErrCompacted })
	if !errors.Is(err, rpctypes.ErrCompacted) || calls != 1 {
		t.Fatalf("Retry of a permanent error = %v after %d calls; want one call", err, calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls = 0
	err = Retry(ctx, func() error { calls++; return rpctypes.ErrTimeout })
	if !errors.Is(err, rpctypes.ErrTimeout) || calls != 1 {
		t.Fatalf("Retry with a cancelled context = %v after %d calls; want one call", err, calls)
	}
}

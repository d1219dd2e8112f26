package leases

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Retries is how many times a request that failed transiently is tried again.
const Retries = 6

// Transient reports whether err is an overloaded or leaderless server's
// answer ("etcdserver: request timed out", no leader, too many requests, a
// dropped connection) that a guarded request may simply retry: whether or
// not the first try was applied, its compares make the retry safe.
func Transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTooManyRequests),
		errors.Is(err, rpctypes.ErrTimeoutWaitAppliedIndex):
		return true
	}
	return status.Code(err) == codes.Unavailable
}

// Retry runs fn until it succeeds, fails for good, or has failed
// transiently Retries+1 times, backing off from 100 ms to 3.2 s. A request
// that ran into its own deadline while ctx lives counts as transient too.
func Retry(ctx context.Context, fn func() error) error {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		transient := Transient(err) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil)
		if !transient || attempt == Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 3200*time.Millisecond)
	}
}

package leases

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// OpsLimit is how many operations one transaction may carry, shared by the
// workers of one run. It starts at the server's --max-txn-ops as the caller
// believes it to be and is halved each time the server refuses a
// transaction as too large ("too many operations in txn request"), so a
// server configured below the default costs one refused transaction per
// halving, not a failed run. Safe for concurrent use.
type OpsLimit struct {
	what   string
	logger *slog.Logger

	mu sync.Mutex
	n  int
}

// NewOpsLimit returns a limit of n operations (DefaultMaxTxnOps when n <= 0);
// what names the action in the warning logged on each halving.
func NewOpsLimit(n int, what string, logger *slog.Logger) *OpsLimit {
	if n <= 0 {
		n = DefaultMaxTxnOps
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &OpsLimit{what: what, logger: logger, n: n}
}

// Ops is the current limit.
func (l *OpsLimit) Ops() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// refused halves the limit below n, the size of the refused transaction,
// unless another worker already lowered it that far.
func (l *OpsLimit) refused(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= n {
		l.n = max(1, n/2)
		l.logger.Warn(l.what+": server refuses transactions this large; halving", "ops", l.n)
	}
}

// InBatches hands items to txn in slices of at most l.Ops() until every
// item is dealt with. txn returns the items of its slice to try again (a
// guard failed and the item still needs handling): they go first into the
// next slice. A transaction the server refuses as too large halves l and
// is tried again smaller; any other error ends the loop.
func InBatches[T any](ctx context.Context, items []T, l *OpsLimit, txn func(ctx context.Context, part []T) (again []T, err error)) error {
	for len(items) > 0 {
		n := min(len(items), l.Ops())
		again, err := txn(ctx, items[:n])
		if errors.Is(err, rpctypes.ErrTooManyOps) && n > 1 {
			l.refused(n)
			continue
		}
		if err != nil {
			return err
		}
		items = append(again, items[n:]...)
	}
	return nil
}

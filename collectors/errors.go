package collectors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rpcError makes an RPC failure say what happened in the words an operator
// needs: a deadline means the member did not answer (hung or overloaded),
// Unimplemented means the server version lacks the API (ErrNotSupported).
func rpcError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	// A learner serves only Status and serializable ranges; anything else
	// is an API this member does not offer, not a failure.
	if strings.Contains(err.Error(), "rpc not supported for learner") {
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unimplemented:
			return fmt.Errorf("%w: %s", ErrNotSupported, s.Message())
		case codes.DeadlineExceeded:
			return fmt.Errorf("no answer before the deadline (hung or overloaded member?): %w", err)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer before the deadline (hung or overloaded member?): %w", err)
	}
	return err
}

// skipError marks a collector that had nothing to do on this subject; the
// runner records it as skipped with the reason, not as a failure.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skipf(format string, args ...any) error { return &skipError{reason: fmt.Sprintf(format, args...)} }

// needFact is what a derived collector returns when an input fact is
// missing: skipped when the collectors that make it were left out of the
// run on purpose, failed when one of them ran and failed (its own error is
// beside it), so a derived fact is never guessed.
func needFact(t *Target, fact string, producers ...string) error {
	for _, p := range producers {
		if t.Selected != nil && t.Selected(p) {
			return fmt.Errorf("needs the %s fact, which is missing (see the %s collector's error)", fact, p)
		}
	}
	return skipf("needs the %s fact: collector %s not selected", fact, producers[0])
}

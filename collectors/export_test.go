package collectors

import (
	"context"
	"testing"
)

// SetJoinAfterFirstCount installs the lease join's test hook for one test.
func SetJoinAfterFirstCount(t testing.TB, f func(context.Context)) {
	joinAfterFirstCount = f
	t.Cleanup(func() { joinAfterFirstCount = nil })
}

package hooks_test

import (
	"testing"

	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

// BenchmarkRun is the executor's own cost per hook: render, fork/exec of
// /bin/true in its process group, capture, redact.
func BenchmarkRun(b *testing.B) {
	r := hooks.NewRunner(inventory.Hooks{hooks.Verify: {"true", "{{.Member}}", "{{.ToVersion}}"}}, hooks.Options{Secrets: []string{"pw"}})
	for b.Loop() {
		if _, err := r.Run(b.Context(), hooks.Verify, vars); err != nil {
			b.Fatal(err)
		}
	}
}

package journal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

// BenchmarkPutStep is the cost of recording one step (open, one fsynced
// transaction, close) with a hook's 64 KiB output, the worst case kept.
func BenchmarkPutStep(b *testing.B) {
	j, err := journal.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := j.CreateRun(journal.Run{ID: "r", Status: journal.RunRunning, Started: time.Now()}); err != nil {
		b.Fatal(err)
	}
	out := strings.Repeat("x", hooks.DefaultOutputLimit)
	i := 0
	for b.Loop() {
		s := journal.StepRecord{RunID: "r", Index: i, Status: journal.StepDone, Hooks: []hooks.Result{{Name: hooks.StopMember, Output: out}}}
		if err := j.PutStep(s); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

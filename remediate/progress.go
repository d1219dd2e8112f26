package remediate

import (
	"fmt"
	"strings"
	"time"
)

// defaultProgressEvery is how often a long step reports that it is still
// running when Engine.ProgressEvery is zero.
const defaultProgressEvery = 10 * time.Second

// watch prints, every ProgressEvery while a step runs, one line with its
// elapsed time against the plan's expected duration as a bar, so a person
// watching a 5-minute install or a cluster-version wait can tell a slow step
// from a stuck one. Lines, not carriage-return redraws: the output is often a
// log file or a CI console. stop ends it; a step shorter than ProgressEvery
// prints nothing.
func (e *Engine) watch(label string, expected time.Duration, started time.Time) (stop func()) {
	every := e.ProgressEvery
	if every <= 0 {
		every = defaultProgressEvery
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				e.printf("%s: running %s", label, progressBar(now.Sub(started), expected))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressBar is "20s of ~1m0s [######--------------]", or past the
// expected time "1m10s, past the ~1m0s expected [####################]".
func progressBar(elapsed, expected time.Duration) string {
	const width = 20
	elapsed = elapsed.Round(time.Second)
	if expected <= 0 {
		return elapsed.String()
	}
	n := int(int64(width) * int64(elapsed) / int64(expected))
	if n >= width {
		return fmt.Sprintf("%s, past the ~%s expected [%s]", elapsed, expected, strings.Repeat("#", width))
	}
	return fmt.Sprintf("%s of ~%s [%s%s]", elapsed, expected, strings.Repeat("#", n), strings.Repeat("-", width-n))
}

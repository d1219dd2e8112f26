package collectors

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes one self-overwriting line ("\r…") while a run goes on. It
// is only given a writer when stderr is a terminal: in a CronJob's log a
// progress line is noise.
type progress struct {
	w                    io.Writer
	mu                   sync.Mutex
	clusters, clustersOK int
	members, membersOK   int
	last                 time.Time
	wrote                bool
}

func newProgress(w io.Writer, clusters int) *progress {
	return &progress{w: w, clusters: clusters}
}

func (p *progress) addMembers(n int) { p.update(func() { p.members += n }) }
func (p *progress) memberDone()      { p.update(func() { p.membersOK++ }) }
func (p *progress) clusterDone()     { p.update(func() { p.clustersOK++ }) }

func (p *progress) update(f func()) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	if time.Since(p.last) < 200*time.Millisecond && p.clustersOK < p.clusters {
		return
	}
	p.last = time.Now()
	p.wrote = true
	fmt.Fprintf(p.w, "\rfacts: %d/%d clusters, %d/%d members ", p.clustersOK, p.clusters, p.membersOK, p.members)
}

// stop ends the progress line so the next output starts on its own line.
func (p *progress) stop() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wrote {
		fmt.Fprintln(p.w)
	}
}

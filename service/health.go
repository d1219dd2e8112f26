package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
)

// probeEvery bounds how often an unusable history is probed again (by
// /readyz and by scans), so a probe storm cannot hammer a damaged file.
const probeEvery = time.Second

// storeHealth is why the history cannot be used now; nil when it can. It
// is set by any failed write or reload and by corruption met while reading,
// and cleared when a probe (history.Store.Probe, then a reload) succeeds:
// a file moved aside or restored from a backup is picked up without a
// restart.
type storeHealth struct {
	mu        sync.Mutex
	err       error
	lastProbe time.Time
}

// storeFailed marks the history unusable. Lookups of scans that do not
// exist and per-scan blob errors leave it usable; corruption does not.
func (s *Server) storeFailed(err error) {
	if err == nil || errors.Is(err, history.ErrNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	s.health.mu.Lock()
	first := s.health.err == nil
	s.health.err = err
	s.health.lastProbe = time.Now()
	s.health.mu.Unlock()
	s.metrics.historyUsable.Set(0)
	s.setErr(err)
	if first {
		s.log.Error("history unusable: not ready until it is repaired", "err", err)
	}
}

// lookupFailed is storeFailed for errors met while serving a read: only
// damage to the file makes the store unusable.
func (s *Server) lookupFailed(err error) {
	if errors.Is(err, history.ErrCorrupt) {
		s.storeFailed(err)
	}
}

// storeUsable is nil when the history can be written, probing it again
// (at most every probeEvery) while it is marked unusable.
func (s *Server) storeUsable(ctx context.Context) error {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return nil
	}
	if time.Since(h.lastProbe) < probeEvery {
		return h.err
	}
	h.lastProbe = time.Now()
	if err := s.store.Probe(ctx); err != nil {
		h.err = err
		return err
	}
	if err := s.reload(ctx); err != nil {
		if errors.Is(err, history.ErrCorrupt) {
			h.err = err
			return err
		}
		// Writable, but a recent scan does not read back (a damaged blob):
		// the next scan replaces it as the latest, so scans must go on.
		s.log.Warn("history writable, but its latest scans do not read back", "err", err)
		s.setErr(err)
	} else {
		s.setErr(nil)
	}
	h.err = nil
	s.metrics.historyUsable.Set(1)
	s.log.Info("history usable again", "file", s.store.Path())
	return nil
}

// storeSound clears the mark after a successful write.
func (s *Server) storeSound() {
	s.health.mu.Lock()
	s.health.err = nil
	s.health.mu.Unlock()
	s.metrics.historyUsable.Set(1)
}

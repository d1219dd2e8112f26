package service

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/results"
)

// snapshot is what the pages, the API and /metrics show. It is replaced
// whole after each scan and never modified, so readers need no lock beyond
// taking the pointer.
type snapshot struct {
	latest   *results.Report
	previous *results.Report // the scan before latest, for "since last scan"
	drift    *history.Drift  // previous → latest; nil with fewer than two scans
	trend    []history.Entry // newest first
	entry    history.Entry   // latest's index entry
}

func (s *Server) snap() *snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state
}

// reload rebuilds the snapshot from the history (at start, after a scan).
func (s *Server) reload(ctx context.Context) error {
	list, err := s.store.List(ctx, s.cfg.TrendScans)
	if err != nil {
		return err
	}
	next := &snapshot{trend: list}
	if len(list) > 0 {
		next.entry = list[0]
		if next.latest, err = s.store.Get(ctx, list[0].ID); err != nil {
			return err
		}
	}
	if len(list) > 1 {
		// A previous scan that does not read back costs the drift view,
		// not the latest scan.
		prev, err := s.store.Get(ctx, list[1].ID)
		if err != nil {
			if errors.Is(err, history.ErrCorrupt) {
				return err
			}
			s.log.Warn("previous scan unreadable: no drift until the next scan", "scan_id", list[1].ID, "err", err)
		} else {
			next.previous = prev
			if next.drift, err = history.Diff(next.previous, next.latest, s.cfg.Drift); err != nil {
				return err
			}
			if s.cfg.ExplainDrift != nil {
				s.cfg.ExplainDrift(next.drift, next.previous, next.latest)
			}
		}
	}
	s.mu.Lock()
	s.state = next
	s.mu.Unlock()
	return nil
}

// startScan starts a scan in the background unless one is running.
func (s *Server) startScan(trigger string) error {
	return s.launch(trigger, nil)
}

// launch runs a scan in the background; done (if set) receives its outcome
// once the scan and, with remediation on, the remediation pass after it
// are over.
func (s *Server) launch(trigger string, done chan<- scanOutcome) error {
	var out scanOutcome
	return s.launchJobThen(func(ctx context.Context) { out = s.scanAndRemediate(ctx, trigger) }, func() {
		if done != nil {
			done <- out // after the slot is free: a waiting client may start the next scan at once
		}
	})
}

// scanAndRemediate scans and, with remediation on, runs the pass after a
// recorded scan.
func (s *Server) scanAndRemediate(ctx context.Context, trigger string) scanOutcome {
	out := s.runScan(ctx, trigger)
	if s.rem != nil && out.Outcome == "success" {
		if rep := s.snap().latest; rep != nil {
			s.remediatePass(ctx, rep)
		}
	}
	return out
}

// launchJob runs job in the background in the service's one work slot
// (scans, remediation runs): ErrBusy when it is taken. After the job, an
// approved plan waiting for the slot gets it.
func (s *Server) launchJob(job func(ctx context.Context)) error {
	return s.launchJobThen(job, nil)
}

// launchJobThen is launchJob with then called once the slot is free.
func (s *Server) launchJobThen(job func(ctx context.Context), then func()) error {
	if s.baseCtx.Err() != nil {
		return errors.New("the service is stopping")
	}
	if !s.running.CompareAndSwap(false, true) {
		return ErrBusy
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		job(s.baseCtx)
		s.running.Store(false)
		if then != nil {
			then()
		}
		s.runApprovedLater()
	}()
	return nil
}

// runApprovedLater starts a run for an approved plan when one waits for the
// work slot. An approval stores its plan before it tries the slot, and a
// job checks after it frees the slot, so no approved plan is left behind.
func (s *Server) runApprovedLater() {
	if s.rem == nil || s.baseCtx.Err() != nil || s.rem.next(PlanApproved, false) == "" {
		return
	}
	_ = s.launchJob(func(ctx context.Context) {
		for ctx.Err() == nil {
			id := s.rem.next(PlanApproved, true)
			if id == "" {
				return
			}
			s.runPlan(ctx, id)
		}
	})
}

type scanOutcome struct {
	Entry   history.Entry `json:"entry,omitzero"`
	Outcome string        `json:"outcome"` // success | error | cancelled
	Error   string        `json:"error,omitempty"`
}

// runScan scans, records and publishes. A scan that was cancelled or cut
// short is not recorded: the history holds whole scans only.
func (s *Server) runScan(ctx context.Context, trigger string) scanOutcome {
	s.metrics.running.Set(1)
	defer s.metrics.running.Set(0)
	start := time.Now()
	log := s.log.With("trigger", trigger)
	if err := s.storeUsable(ctx); err != nil {
		// Scanning the fleet for a result that cannot be kept would only
		// load it: fail fast, with the reason.
		s.metrics.scans.WithLabelValues("error").Inc()
		s.setErr(err)
		log.Error("scan not started: the history cannot be written", "err", err)
		return scanOutcome{Outcome: "error", Error: "scan not started: " + err.Error()}
	}
	log.Info("scan started")
	scanCtx, cancel := context.WithTimeout(ctx, s.cfg.ScanTimeout)
	defer cancel()
	rep, err := s.scanSafely(scanCtx)
	dur := time.Since(start)
	s.metrics.duration.Observe(dur.Seconds())
	fail := func(outcome string, err error) scanOutcome {
		s.metrics.scans.WithLabelValues(outcome).Inc()
		s.setErr(err)
		log.Error("scan "+outcome, "err", err, "duration", dur.Round(time.Millisecond))
		return scanOutcome{Outcome: outcome, Error: err.Error()}
	}
	switch {
	case ctx.Err() != nil:
		return fail("cancelled", fmt.Errorf("scan cancelled (service stopping) after %s; not recorded", dur.Round(time.Millisecond)))
	case err != nil:
		return fail("error", err)
	case rep == nil:
		return fail("error", errors.New("scan returned no report"))
	case rep.Facts != nil && rep.Facts.Interrupted != "":
		return fail("error", fmt.Errorf("scan cut short (%s); not recorded", rep.Facts.Interrupted))
	}
	// Recording is one short bbolt transaction; finish it even when a stop
	// arrives now, so a completed scan is not lost.
	recCtx := context.WithoutCancel(ctx)
	entry, pruned, err := s.store.Put(recCtx, rep, history.WithRetention(s.retention(recCtx)))
	if err != nil {
		err = fmt.Errorf("record scan: %w", err)
		s.storeFailed(err)
		return fail("error", err)
	}
	s.storeSound()
	if len(pruned) > 0 {
		log.Info("history pruned", "deleted", len(pruned))
	}
	if err := s.reload(recCtx); err != nil {
		err = fmt.Errorf("reload history: %w", err)
		s.lookupFailed(err)
		return fail("error", err)
	}
	s.metrics.scans.WithLabelValues("success").Inc()
	s.metrics.lastSuccess.Set(float64(s.cfg.Now().UnixNano()) / 1e9)
	s.setErr(nil)
	log.Info("scan recorded", "scan_id", entry.ID, "duration", dur.Round(time.Millisecond),
		"failed", entry.Counts.Failed, "error", entry.Counts.Error)
	return scanOutcome{Entry: entry, Outcome: "success"}
}

// retention is the configured policy, or else the one saved in the
// history by `history prune --save`.
func (s *Server) retention(ctx context.Context) history.Retention {
	if !s.cfg.Retention.IsZero() {
		return s.cfg.Retention
	}
	r, err := s.store.SavedRetention(ctx)
	if err != nil {
		s.log.Warn("saved retention unreadable; keeping everything", "err", err)
	}
	return r
}

// scanSafely turns a panic anywhere in collection or judgement (a hostile
// answer from some member) into a failed scan, so one bad night does not
// take the service, its history and its metrics down with it.
func (s *Server) scanSafely(ctx context.Context) (rep *results.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("scan panicked", "panic", p, "stack", string(debug.Stack()))
			rep, err = nil, fmt.Errorf("scan panicked: %v", p)
		}
	}()
	return s.cfg.Scan(ctx)
}

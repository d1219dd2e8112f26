package service

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// schedule says when the next scan is due; nil next means on demand only.
type schedule struct {
	spec string
	next func(time.Time) time.Time
}

func (s schedule) String() string {
	if s.next == nil {
		return "on demand only"
	}
	return s.spec
}

// cronParser accepts standard 5-field cron, descriptors (@daily, @hourly)
// and "@every <duration>".
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseSchedule(spec string) (schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return schedule{}, nil
	}
	if d, err := time.ParseDuration(spec); err == nil { // a bare "1h" means every hour
		spec = "@every " + d.String()
	}
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Second {
			return schedule{}, fmt.Errorf("--schedule %q: want @every with a duration of at least 1s", spec)
		}
	}
	sc, err := cronParser.Parse(spec)
	if err != nil {
		return schedule{}, fmt.Errorf("--schedule %q: %w (use cron like \"0 2 * * *\", @daily, or \"@every 1h\")", spec, err)
	}
	return schedule{spec: spec, next: sc.Next}, nil
}

// runSchedule starts a scan at each due time (plus jitter) until ctx ends.
// A due time that finds a scan still running is skipped, not queued: the
// running scan already answers the question the next one would ask.
func (s *Server) runSchedule(ctx context.Context) {
	if s.sched.next == nil {
		return
	}
	for {
		now := s.cfg.Now()
		due := s.sched.next(now)
		if s.cfg.Jitter > 0 {
			due = due.Add(rand.N(s.cfg.Jitter))
		}
		s.metrics.nextScan.Set(float64(due.UnixNano()) / 1e9)
		t := time.NewTimer(due.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.startScan("schedule"); err != nil {
			s.log.Warn("scheduled scan skipped", "reason", err)
			s.metrics.skipped.Inc()
		}
	}
}

// Package service is `etcdaudit serve`: it scans the fleet on a schedule,
// records every scan in the history, and serves the latest report, its
// drift since the scan before, a compliance trend, a JSON API and
// Prometheus metrics, all while a scan runs. Two scans never overlap, and
// a stop signal cancels a running scan without recording half of it.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/results"
)

// ScanFunc runs one whole scan (collect and judge) and returns the judged
// report. It must honour ctx: the service cancels it on shutdown.
type ScanFunc func(ctx context.Context) (*results.Report, error)

// DefaultListen is loopback: the service exposes the fleet's topology and
// weaknesses, so it listens beyond the host only when told to.
const DefaultListen = "127.0.0.1:9477"

// Config is everything the service needs; Scan and StateDir are required.
type Config struct {
	Scan     ScanFunc
	StateDir string
	Listen   string // default DefaultListen
	// Schedule is a cron expression (5 fields, or @hourly, @daily, ...)
	// or "@every 1h"; empty means on-demand scans only.
	Schedule string
	// Jitter delays each scheduled scan by a random duration up to this,
	// so many instances do not hit the fleet at the same second.
	Jitter time.Duration
	// ScanOnStart runs a scan right away when the history has none, so a
	// fresh service has something to show before the first scheduled scan.
	ScanOnStart bool
	// ScanTimeout bounds one scan; 0 means 1 hour.
	ScanTimeout time.Duration
	// TokenFile holds the bearer token that POST /api/scans requires. It
	// is read on every request, so a rotated Secret applies without a
	// restart. Empty disables on-demand scans.
	TokenFile string
	Retention history.Retention
	Drift     history.DriftOptions
	// TrendScans is how many recent scans the trend shows (default 30).
	TrendScans int
	Logger     *slog.Logger
	Now        func() time.Time
	// ShutdownTimeout bounds draining HTTP requests on stop (default 10s).
	ShutdownTimeout time.Duration
	// AllowedHosts are the Host header names served besides loopback
	// names and addresses ("*.example.com" allows subdomains). On a
	// loopback listener every other Host is refused (DNS rebinding); on
	// any other listener the check applies only when this is set.
	AllowedHosts []string
	// MaxLookups bounds the unauthenticated reads that decompress a scan
	// or render a report, served at once (default DefaultMaxLookups);
	// LookupWait is how long a request waits for a turn before a 503 with
	// Retry-After (default 5s).
	MaxLookups int
	LookupWait time.Duration
	// ExplainDrift, when set, is given every drift the service computes,
	// with the two scans: it names the remediation runs behind the changes
	// (d.AttachRemediation), as `etcdaudit drift` does.
	ExplainDrift func(d *history.Drift, older, newer *results.Report)
	// Remediate turns on auto-remediation (serve --remediate): after each
	// recorded scan its failing controls are planned, gated and run (auto)
	// or offered for approval. Nil: serve never writes to the fleet.
	Remediate Remediator
}

// Server is a running (or ready to run) service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *history.Store
	sched   schedule
	metrics *metrics
	reg     *prometheus.Registry

	running atomic.Bool // a scan is in progress
	wg      sync.WaitGroup
	baseCtx context.Context // cancelled on stop; scans derive from it

	mu    sync.RWMutex
	state *snapshot // latest scan, previous one, drift, trend; replaced whole
	ready bool      // started: the history was probed and loaded (or found unusable)

	health   storeHealth
	loopback bool          // listening on loopback only: Host names are checked
	lookups  chan struct{} // a slot per concurrent heavy lookup

	lastErr atomic.Pointer[string]

	rem *remediation // nil unless cfg.Remediate is set
}

// ErrBusy means a scan is already running.
var ErrBusy = errors.New("a scan is already running")

// New validates cfg. The history is opened (created when missing) when
// serving starts; a damaged one leaves the service up but not ready, with
// the reason on /readyz, until the file is replaced.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Scan == nil {
		return nil, errors.New("serve: no scan function")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = time.Hour
	}
	if cfg.TrendScans <= 0 {
		cfg.TrendScans = 30
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Jitter < 0 {
		return nil, fmt.Errorf("serve: --jitter %s must not be negative", cfg.Jitter)
	}
	sched, err := parseSchedule(cfg.Schedule)
	if err != nil {
		return nil, err
	}
	if cfg.TokenFile != "" {
		if _, err := readToken(ctx, cfg.TokenFile); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
	}
	if cfg.MaxLookups <= 0 {
		cfg.MaxLookups = DefaultMaxLookups
	}
	if cfg.LookupWait <= 0 {
		cfg.LookupWait = 5 * time.Second
	}
	store, err := history.NewStore(cfg.StateDir, history.Options{Create: true})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: store, sched: sched, baseCtx: ctx, state: &snapshot{},
		lookups: make(chan struct{}, cfg.MaxLookups)}
	if cfg.Remediate != nil {
		if s.rem, err = loadRemediation(cfg.Remediate, cfg.StateDir); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
	}
	s.reg = prometheus.NewRegistry()
	s.metrics = newMetrics(s)
	if err := s.metrics.register(s.reg); err != nil {
		return nil, fmt.Errorf("serve: metrics: %w", err)
	}
	return s, nil
}

// Run listens on cfg.Listen and serves until ctx ends. See Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			s.log.Warn("listening beyond loopback: /metrics, / and the API show the fleet's topology and failures to anyone who can connect",
				"addr", ln.Addr().String())
		}
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends: it loads the latest scans from the
// history, starts the scheduler, and on stop cancels a running scan, waits
// for it (nothing half-written: an interrupted scan is not recorded), and
// drains HTTP requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	unlock, err := lockStateDir(s.cfg.StateDir)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	defer unlock()
	s.baseCtx = ctx
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		ip := net.ParseIP(host)
		s.loopback = ip != nil && ip.IsLoopback()
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "state_dir", s.cfg.StateDir, "schedule", s.sched.String())

	// A damaged history does not stop the service: it stays up, not
	// ready, saying why on /readyz and in its log, so an operator can
	// read the reason, move the file aside or restore it, and see the
	// service recover without a restart (and without a crash loop).
	if err := s.store.Probe(ctx); err != nil {
		s.storeFailed(err)
	} else if err := s.reload(ctx); err != nil {
		s.log.Error("loading history", "err", err)
		s.setErr(err)
		s.lookupFailed(err)
	}
	s.mu.Lock()
	s.ready = true
	empty := s.state.latest == nil
	s.mu.Unlock()
	if s.rem != nil {
		// A run this state dir was in when serve last stopped is resumed
		// or closed per its journal before any scan starts.
		_ = s.launchJob(func(ctx context.Context) {
			s.recoverRuns(ctx)
			if s.cfg.ScanOnStart && empty {
				s.scanAndRemediate(ctx, "startup")
			}
		})
	} else if s.cfg.ScanOnStart && empty {
		_ = s.startScan("startup")
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.runSchedule(ctx) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("stopping: cancelling any running scan")
	s.wg.Wait() // the scan and the scheduler follow ctx
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.cfg.Listen }

// Store is the history the service records into.
func (s *Server) Store() *history.Store { return s.store }

func (s *Server) setErr(err error) {
	if err == nil {
		s.lastErr.Store(nil)
		return
	}
	msg := err.Error()
	s.lastErr.Store(&msg)
}

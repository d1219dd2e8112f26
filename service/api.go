package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/report"
	"github.com/etcdaudit/etcdaudit/results"
)

// Handler routes every endpoint of the service.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	// Unauthenticated reads that decode a scan or render a report take
	// turns (limited); the list and the page read only the index and the
	// in-memory snapshot.
	mux.HandleFunc("GET /api/scans", s.handleListScans)
	mux.HandleFunc("POST /api/scans", s.handleStartScan)
	mux.HandleFunc("GET /api/scans/{id}", s.limited(s.handleGetScan))
	mux.HandleFunc("GET /api/drift", s.limited(s.handleDrift))
	mux.HandleFunc("GET /report", s.limited(s.handleReportHTML))
	mux.HandleFunc("GET /scans/{id}", s.limited(s.handleReportHTML))
	mux.HandleFunc("GET /api/plans", s.handleListPlans)
	mux.HandleFunc("GET /api/plans/{id}", s.handleGetPlan)
	mux.HandleFunc("POST /api/plans/{id}/approve", s.handleDecidePlan)
	mux.HandleFunc("POST /api/plans/{id}/reject", s.handleDecidePlan)
	mux.HandleFunc("POST /api/clusters/{name}/auto", s.handleEnableAuto)
	mux.HandleFunc("GET /{$}", s.handleIndex)
	return securityHeaders(s.hostGuard(mux))
}

// reportCSP is the report page's own policy (only its script, by hash;
// nothing fetched) plus what only a header can say: framed by this
// service's page alone.
var reportCSP = report.HTMLContentSecurityPolicy() + "; frame-ancestors 'self'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type apiError struct {
	Error string `json:"error"`
}

func writeErr(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// handleReady is not ready while the history is loading, and while it
// cannot be read or written (damaged, unwritable): the body says why and
// what to do. Each call while unusable probes the file again (at most
// every probeEvery), so a replaced file makes the service ready again.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	ready := s.ready
	s.mu.RUnlock()
	if !ready {
		writeText(w, http.StatusServiceUnavailable, "loading history\n")
		return
	}
	if err := s.storeUsable(r.Context()); err != nil {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

type scanList struct {
	Running   bool            `json:"running"`
	LastError string          `json:"last_error,omitempty"`
	Schedule  string          `json:"schedule"`
	Scans     []history.Entry `json:"scans"`
}

func (s *Server) handleListScans(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, "limit %q: want a number >= 0 (0: all)", v)
			return
		}
		limit = n
	}
	list, err := s.store.List(r.Context(), limit)
	if err != nil {
		s.lookupFailed(err)
		writeErr(w, http.StatusInternalServerError, "history: %v", err)
		return
	}
	if list == nil {
		list = []history.Entry{}
	}
	out := scanList{Running: s.running.Load(), Schedule: s.sched.String(), Scans: list}
	if e := s.lastErr.Load(); e != nil {
		out.LastError = *e
	}
	writeJSON(w, http.StatusOK, out)
}

// resolve finds a scan the way the CLI does (id, prefix, latest, latest~N,
// date, age).
func (s *Server) resolve(r *http.Request, ref string) (*results.Report, int, error) {
	e, err := s.store.Resolve(r.Context(), ref, s.cfg.Now())
	if err != nil {
		s.lookupFailed(err)
		code := http.StatusBadRequest
		if errors.Is(err, history.ErrNotFound) {
			code = http.StatusNotFound
		}
		return nil, code, err
	}
	if st := s.snap(); st.latest != nil && st.latest.ScanID == e.ID {
		return st.latest, 0, nil
	}
	rep, err := s.store.Get(r.Context(), e.ID)
	if err != nil {
		s.lookupFailed(err)
		return nil, http.StatusInternalServerError, err
	}
	return rep, 0, nil
}

func (s *Server) handleGetScan(w http.ResponseWriter, r *http.Request) {
	rep, code, err := s.resolve(r, r.PathValue("id"))
	if err != nil {
		writeErr(w, code, "%v", err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" || format == "json" {
		w.Header().Set("Content-Type", "application/json")
		_ = report.Render(w, "json", rep, report.Options{IncludeFacts: true})
		return
	}
	s.renderReport(w, format, rep)
}

var contentTypes = map[string]string{
	"html": "text/html; charset=utf-8", "junit": "application/xml", "xml": "application/xml",
	"prometheus": "text/plain; version=0.0.4; charset=utf-8", "prom": "text/plain; version=0.0.4; charset=utf-8",
	"markdown": "text/markdown; charset=utf-8", "md": "text/markdown; charset=utf-8",
}

func (s *Server) renderReport(w http.ResponseWriter, format string, rep *results.Report) {
	rr, err := report.New(format, report.Options{Color: report.ColorNever})
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	ct := contentTypes[format]
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if format == "html" {
		// The report page is self-contained: inline CSS and its one
		// script (by hash) only, nothing fetched, not framed by other sites.
		w.Header().Set("Content-Security-Policy", reportCSP)
	}
	if err := rr.Render(w, rep); err != nil {
		s.log.Warn("render report", "format", format, "scan_id", rep.ScanID, "err", err)
	}
}

func (s *Server) handleReportHTML(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("id")
	if ref == "" {
		st := s.snap()
		if st.latest == nil {
			writeText(w, http.StatusNotFound, "no scan recorded yet\n")
			return
		}
		s.renderReport(w, "html", st.latest)
		return
	}
	rep, code, err := s.resolve(r, ref)
	if err != nil {
		writeText(w, code, err.Error()+"\n")
		return
	}
	s.renderReport(w, "html", rep)
}

func (s *Server) handleDrift(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	var d *history.Drift
	if q.Get("from") == "" && q.Get("to") == "" {
		st := s.snap()
		if st.drift == nil {
			writeErr(w, http.StatusNotFound, "drift needs two recorded scans; the history has %d", len(st.trend))
			return
		}
		d = st.drift
	} else {
		to, code, err := s.resolve(r, orLatest(q.Get("to")))
		if err != nil {
			writeErr(w, code, "to: %v", err)
			return
		}
		fromRef := q.Get("from")
		if fromRef == "" {
			writeErr(w, http.StatusBadRequest, "with to=, give from= too")
			return
		}
		from, code, err := s.resolve(r, fromRef)
		if err != nil {
			writeErr(w, code, "from: %v", err)
			return
		}
		if from.StartedAt.After(to.StartedAt) {
			writeErr(w, http.StatusBadRequest, "from %s started after to %s", from.ScanID, to.ScanID)
			return
		}
		if d, err = history.Diff(from, to, s.cfg.Drift); err != nil {
			writeErr(w, http.StatusInternalServerError, "%v", err)
			return
		}
		if s.cfg.ExplainDrift != nil {
			s.cfg.ExplainDrift(d, from, to)
		}
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, d)
		return
	}
	ct := contentTypes[format]
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if err := history.RenderDrift(w, format, d); err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
	}
}

func orLatest(s string) string {
	if s == "" {
		return "latest"
	}
	return s
}

// handleStartScan starts an on-demand scan. It needs the bearer token from
// the token file; with ?wait=true it answers when the scan has finished.
func (s *Server) handleStartScan(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, "on-demand scans") {
		return
	}
	wait := r.URL.Query().Get("wait") == "true" || r.URL.Query().Get("wait") == "1"
	var done chan scanOutcome
	if wait {
		done = make(chan scanOutcome, 1)
	}
	if err := s.launch("api", done); err != nil {
		if errors.Is(err, ErrBusy) {
			writeErr(w, http.StatusConflict, "%v", err)
		} else {
			writeErr(w, http.StatusServiceUnavailable, "%v", err)
		}
		return
	}
	if !wait {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "started"})
		return
	}
	// A full scan of a large fleet outlasts the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	select {
	case out := <-done:
		code := http.StatusOK
		if out.Outcome != "success" {
			code = http.StatusInternalServerError
		}
		writeJSON(w, code, out)
	case <-r.Context().Done():
		// The client left; the scan goes on and is recorded.
	}
}

// authorized checks the bearer token of a request that changes something
// (what names it in the refusal); on false the answer is written.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, what string) bool {
	if s.cfg.TokenFile == "" {
		writeErr(w, http.StatusForbidden, "%s are disabled: start serve with --token-file", what)
		return false
	}
	want, err := readToken(r.Context(), s.cfg.TokenFile)
	if err != nil {
		s.log.Error("token file", "err", err)
		writeErr(w, http.StatusInternalServerError, "token file unreadable")
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !tokenEqual(strings.TrimSpace(got), want) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="etcdaudit"`)
		writeErr(w, http.StatusUnauthorized, "a valid bearer token is required")
		return false
	}
	return true
}

// readToken reads the bearer token from a regular file of at most
// inputfile.PEM bytes (a FIFO or device cannot hold a request or the
// start-up); surrounding whitespace (a trailing newline from `echo`) is not
// part of it.
func readToken(ctx context.Context, path string) (string, error) {
	b, err := inputfile.Read(ctx, path, inputfile.PEM)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// tokenEqual compares in constant time; hashing first also hides the
// token's length.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

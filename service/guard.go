package service

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxLookups is how many scan lookups (decompress a scan, render a
// report, diff two scans) run at once by default: each holds a whole
// decoded scan in memory, so an unauthenticated burst must queue instead
// of multiplying the service's memory (docs/serve.md, "Limits").
const DefaultMaxLookups = 4

// hostAllowed reports whether a request's Host names this service. A DNS
// rebinding page reaches a loopback service under the attacker's DNS
// name, so on loopback only loopback names and addresses (and
// --allowed-hosts) are served. Beyond loopback, with --allowed-hosts set,
// IP addresses are served too: probes and Prometheus address a pod by IP,
// and a rebinding page never uses one.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || !s.loopback
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		if a == host || (strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:])) {
			return true
		}
	}
	return false
}

// hostGuard refuses requests for other hosts: always on a loopback
// listener, elsewhere when AllowedHosts is set.
func (s *Server) hostGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (s.loopback || len(s.cfg.AllowedHosts) > 0) && !s.hostAllowed(r.Host) {
			writeText(w, http.StatusMisdirectedRequest,
				"this etcdaudit serves only loopback names and --allowed-hosts; Host "+strconv.Quote(r.Host)+" is not one of them\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limited runs h when a lookup slot is free within LookupWait, and answers
// 503 with Retry-After otherwise.
func (s *Server) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(s.cfg.LookupWait)
		defer t.Stop()
		select {
		case s.lookups <- struct{}{}:
		case <-t.C:
			s.metrics.lookupsRefused.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.cfg.LookupWait.Seconds()))))
			writeErr(w, http.StatusServiceUnavailable, "busy: %d scan lookups are running; retry later", cap(s.lookups))
			return
		case <-r.Context().Done():
			return
		}
		defer func() { <-s.lookups }()
		h(w, r)
	}
}

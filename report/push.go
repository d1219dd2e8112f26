package report

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/etcdaudit/etcdaudit/results"
)

// DefaultPushJob is the job label pushed metrics carry unless told otherwise.
const DefaultPushJob = "etcdaudit"

// Push sends the report's gauges to a Pushgateway, replacing the whole group
// (HTTP PUT) so controls that disappeared from the scan leave no stale series.
// The group is the job label alone: a CronJob's pod name as instance would
// create a new group every night.
func Push(ctx context.Context, gateway string, r *results.Report, opts Options) error {
	u, err := url.Parse(gateway)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("pushgateway %q: want an http(s):// URL", redactURL(gateway))
	}
	job := opts.PushJob
	if job == "" {
		job = DefaultPushJob
	}
	timeout := opts.PushTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(r)); err != nil {
		return fmt.Errorf("push to %s: %w", redactURL(gateway), err)
	}
	target := gateway
	var user, pw string
	if u.User != nil {
		// push.New wants the credentials apart; keep them out of the URL it
		// may echo in errors.
		user = u.User.Username()
		pw, _ = u.User.Password()
		u.User = nil
		target = u.String()
	}
	p := push.New(target, job).Gatherer(reg).Client(&http.Client{Timeout: timeout})
	if user != "" {
		p = p.BasicAuth(user, pw)
	}
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("push to %s (job %q): %w", redactURL(gateway), job, err)
	}
	return nil
}

// redactURL hides a password in a URL before it reaches a log or an error.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/etcdaudit/etcdaudit/results"
)

// Status values of etcdaudit_control_status. The status is the gauge's value,
// never a label: a status label would leave the old series behind on every
// change (a "failed" series lingering after the fix).
const (
	StatusValuePassed  = 0
	StatusValueFailed  = 1
	StatusValueError   = 2
	StatusValueSkipped = 3
	StatusValueWaived  = 4
)

// StatusValue maps a status to its gauge value; an unknown status is -1.
func StatusValue(s results.Status) float64 {
	switch s {
	case results.Passed:
		return StatusValuePassed
	case results.Failed:
		return StatusValueFailed
	case results.Error:
		return StatusValueError
	case results.Skipped:
		return StatusValueSkipped
	case results.Waived:
		return StatusValueWaived
	}
	return -1
}

var (
	descControlStatus = prometheus.NewDesc("etcdaudit_control_status",
		"Verdict of a control on one subject: 0 passed, 1 failed, 2 error, 3 skipped, 4 waived. "+
			"member is empty for cluster-scoped controls, cluster and member for fleet-scoped ones.",
		[]string{"control", "cluster", "member"}, nil)
	descResults = prometheus.NewDesc("etcdaudit_results",
		"Number of results of the last scan per status (all five statuses always present).",
		[]string{"status"}, nil)
	descClusterResults = prometheus.NewDesc("etcdaudit_cluster_failing_results",
		"Number of failed or errored results per cluster in the last scan.",
		[]string{"cluster"}, nil)
	descLastScan = prometheus.NewDesc("etcdaudit_last_scan_timestamp_seconds",
		"Unix time the last scan finished; alert when it grows stale.", nil, nil)
	descScanDuration = prometheus.NewDesc("etcdaudit_last_scan_duration_seconds",
		"Wall time of the last scan, collection and judgement.", nil, nil)
	descMemberUp = prometheus.NewDesc("etcdaudit_member_up",
		"1 when the member answered the scan, 0 when it was unreachable.",
		[]string{"cluster", "member"}, nil)
	descMembersUp = prometheus.NewDesc("etcdaudit_cluster_members_up",
		"Members of the cluster that answered the scan.", []string{"cluster"}, nil)
	descMembers = prometheus.NewDesc("etcdaudit_cluster_members",
		"Members of the cluster the scan knew of (discovered or listed in the inventory).", []string{"cluster"}, nil)
	descLeaseRatio = prometheus.NewDesc("etcdaudit_events_lease_coverage_ratio",
		"Share of Kubernetes events keys carrying a live lease (1 when there are none); keys without one never expire.",
		[]string{"cluster", "prefix"}, nil)
	descEventKeys = prometheus.NewDesc("etcdaudit_events_keys",
		"Kubernetes events keys under the events prefix.", []string{"cluster", "prefix"}, nil)
	descEventUnleased = prometheus.NewDesc("etcdaudit_events_unleased_keys",
		"Kubernetes events keys without a live lease.", []string{"cluster", "prefix"}, nil)
	descV2Keys = prometheus.NewDesc("etcdaudit_v2_keys",
		"Custom keys in the member's legacy v2 store (etcd's own entries excluded); 3.6 refuses to start while any remain.",
		[]string{"cluster", "member"}, nil)
	descV2Enabled = prometheus.NewDesc("etcdaudit_v2_api_enabled",
		"1 when the member serves the v2 keys API.", []string{"cluster", "member"}, nil)
	descVersion = prometheus.NewDesc("etcdaudit_member_version_info",
		"Versions the member reports; always 1. Join on it to see version drift.",
		[]string{"cluster", "member", "server_version", "cluster_version", "storage_version"}, nil)
	descDBSize = prometheus.NewDesc("etcdaudit_member_db_size_bytes",
		"Size of the member's backend database file.", []string{"cluster", "member"}, nil)
)

// Collector exposes one report as Prometheus gauges. It is unchecked (it
// describes nothing up front) because the label sets depend on the fleet;
// `serve` wraps the latest report in one so replaced reports drop their
// series instead of leaving them stale.
type Collector struct{ r *results.Report }

// NewCollector returns a collector for r; r is only read.
func NewCollector(r *results.Report) *Collector { return &Collector{r: r} }

// Describe sends nothing: an unchecked collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every gauge of the report. Label values from the fleet are
// made valid UTF-8 first (client_golang refuses anything else), and duplicate
// subjects keep their worst status, so a hostile report still exposes
// something valid.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		for i := range labels {
			labels[i] = clean(labels[i])
		}
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	type key struct{ control, cluster, member string }
	status := map[key]results.Status{}
	var order []key
	failing := map[string]int{}
	for _, res := range r.Results {
		k := key{clean(res.Control), clean(res.Cluster), clean(res.Member)}
		prev, seen := status[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || res.Status.Severity() > prev.Severity() {
			status[k] = res.Status
		}
		if res.Cluster != "" {
			if _, ok := failing[k.cluster]; !ok {
				failing[k.cluster] = 0
			}
			if res.Status == results.Failed || res.Status == results.Error {
				failing[k.cluster]++
			}
		}
	}
	for _, k := range order {
		gauge(descControlStatus, StatusValue(status[k]), k.control, k.cluster, k.member)
	}
	for cl, n := range failing {
		gauge(descClusterResults, float64(n), cl)
	}
	counts := summaryOf(r).Overall
	for _, s := range results.Statuses {
		gauge(descResults, float64(countOf(counts, s)), string(s))
	}
	if !r.FinishedAt.IsZero() {
		gauge(descLastScan, float64(r.FinishedAt.UnixNano())/1e9)
		gauge(descScanDuration, duration(r).Seconds())
	}
	if r.Facts == nil {
		return
	}
	seenCluster := map[string]bool{}
	for _, cf := range r.Facts.Clusters {
		cl := clean(cf.Name)
		if seenCluster[cl] {
			continue // a duplicate name would collide; the first one wins
		}
		seenCluster[cl] = true
		up := 0
		seenMember := map[string]bool{}
		for i := range cf.Members {
			m := &cf.Members[i]
			name := clean(memberKey(m))
			if seenMember[name] {
				continue
			}
			seenMember[name] = true
			if m.Reachable {
				up++
			}
			gauge(descMemberUp, b2f(m.Reachable), cl, name)
			if m.Version != nil {
				gauge(descVersion, 1, cl, name, m.Version.Server, m.Version.Cluster, m.Version.Storage)
			}
			if m.V2 != nil {
				gauge(descV2Enabled, b2f(m.V2.Enabled), cl, name)
				if m.V2.Counted {
					gauge(descV2Keys, float64(m.V2.Keys), cl, name)
				}
			}
			if m.Status != nil {
				gauge(descDBSize, float64(m.Status.DBSize), cl, name)
			}
		}
		gauge(descMembersUp, float64(up), cl)
		gauge(descMembers, float64(len(seenMember)), cl)
		if e := cf.EventLeases; e != nil {
			gauge(descLeaseRatio, e.Ratio, cl, e.Prefix)
			gauge(descEventKeys, float64(e.Keys), cl, e.Prefix)
			gauge(descEventUnleased, float64(e.Unleased), cl, e.Prefix)
		}
	}
}

// clean makes a fleet value a safe label value: valid UTF-8 (client_golang
// refuses anything else) and no control characters, which would otherwise
// reach whoever runs curl on /metrics or cat on the .prom file. A member
// name with an escape sequence is pathological; showing it escaped is the
// lesser evil than changing a terminal.
func clean(s string) string { return termSafe(strings.ToValidUTF8(s, "\uFFFD")) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// promReporter writes the text exposition format (version 0.0.4), the one
// node_exporter's textfile collector reads.
type promReporter struct{ opts Options }

func (p *promReporter) Render(w io.Writer, r *results.Report) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(r)); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	return nil
}

package service

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/report"
)

// metrics are the service's own series; the latest scan's gauges come from
// latestCollector.
type metrics struct {
	duration       prometheus.Histogram
	scans          *prometheus.CounterVec
	skipped        prometheus.Counter
	running        prometheus.Gauge
	lastSuccess    prometheus.Gauge
	nextScan       prometheus.Gauge
	historyUsable  prometheus.Gauge
	lookupsRefused prometheus.Counter
	latest         *latestCollector

	remRuns       *prometheus.CounterVec
	remRunning    prometheus.Gauge
	remPlanErrors prometheus.Counter
	rem           *remCollector
}

func newMetrics(s *Server) *metrics {
	return &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcdaudit_scan_duration_seconds", Help: "Wall time of scans run by etcdaudit serve, collection and judgement.",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdaudit_scans_total", Help: "Scans run by etcdaudit serve, by outcome (success, error, cancelled).",
		}, []string{"outcome"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdaudit_scans_skipped_total", Help: "Scheduled scans skipped because a scan was still running.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdaudit_scan_running", Help: "1 while a scan is running.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdaudit_last_success_timestamp_seconds", Help: "Unix time the last scan was recorded successfully by etcdaudit serve; 0 before the first.",
		}),
		nextScan: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdaudit_next_scan_timestamp_seconds", Help: "Unix time of the next scheduled scan (jitter included).",
		}),
		historyUsable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdaudit_history_usable", Help: "1 when the history file can be read and written; 0 while it is damaged or unwritable (then /readyz says why).",
		}),
		lookupsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdaudit_lookups_refused_total", Help: "Scan lookups answered 503 because every lookup slot stayed busy (see --max-lookups).",
		}),
		latest: &latestCollector{s: s},
		remRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdaudit_remediation_runs_total",
			Help: "Remediation runs by serve --remediate, by action and outcome (success, failed, expired: the fleet moved away from the plan, denied: the gate refused at run time).",
		}, []string{"action", "outcome"}),
		remRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdaudit_remediation_running", Help: "1 while serve --remediate runs a plan.",
		}),
		remPlanErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdaudit_remediation_plan_errors_total", Help: "Scans after which serve --remediate could not plan or gate (see the log).",
		}),
		rem: &remCollector{s: s},
	}
}

func (m *metrics) register(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{m.duration, m.scans, m.skipped, m.running, m.lastSuccess, m.nextScan, m.historyUsable, m.lookupsRefused, m.latest,
		m.remRuns, m.remRunning, m.remPlanErrors, m.rem,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, o := range []string{"success", "error", "cancelled"} {
		m.scans.WithLabelValues(o) // present at zero, so rate() and alerts work from the start
	}
	m.historyUsable.Set(1)
	if m.rem.s.rem != nil {
		for _, a := range []string{remediate.ActionUpgrade, remediate.ActionMigrateV2, remediate.ActionAttachEventLeases, remediate.ActionSwitchBackend, remediate.ActionCleanupV2} {
			for _, o := range []string{"success", PlanFailed, PlanExpired, PlanDenied} {
				m.remRuns.WithLabelValues(a, o) // at zero, so increase() sees the first failure
			}
		}
	}
	return nil
}

var descCollectorErrors = prometheus.NewDesc("etcdaudit_collector_errors",
	"Collector errors in the latest recorded scan, by collector (members and clusters summed).",
	[]string{"collector"}, nil)

var (
	descDriftWorse = prometheus.NewDesc("etcdaudit_drift_worse",
		"1 when the latest scan got worse than the one before it (what `etcdaudit drift` exits 100 for).", nil, nil)
	descDriftChanges = prometheus.NewDesc("etcdaudit_drift_changes",
		"Changes from the previous scan to the latest, by kind: control transitions (newly_failing, new_error, resolved, ...) and fact changes (member_upgraded, v2_keys_appeared, ...).",
		[]string{"kind"}, nil)
)

// latestCollector serves the latest recorded scan's gauges at scrape time.
// It is unchecked and built from the current snapshot on every scrape, so
// when a member or control disappears from the fleet its series disappears
// too, instead of lingering with its last value as a registered GaugeVec's
// would.
type latestCollector struct{ s *Server }

func (c *latestCollector) Describe(chan<- *prometheus.Desc) {}

func (c *latestCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.snap()
	if st.latest == nil {
		return
	}
	report.NewCollector(st.latest).Collect(ch)
	errs := map[string]int{}
	for _, name := range collectorNames(st) {
		errs[labelValue(name)] = 0 // every collector present, at 0 when it did not fail
	}
	if f := st.latest.Facts; f != nil {
		for _, cl := range f.Clusters {
			for _, e := range cl.Errors {
				errs[labelValue(e.Collector)]++
			}
			for _, m := range cl.Members {
				for _, e := range m.Errors {
					errs[labelValue(e.Collector)]++
				}
			}
		}
	}
	if d := st.drift; d != nil {
		ch <- prometheus.MustNewConstMetric(descDriftWorse, prometheus.GaugeValue, b2f(d.Worse))
		for kind, n := range d.Counts {
			m, err := prometheus.NewConstMetric(descDriftChanges, prometheus.GaugeValue, float64(n), labelValue(kind))
			if err != nil {
				m = prometheus.NewInvalidMetric(descDriftChanges, err)
			}
			ch <- m
		}
	}
	for name, n := range errs {
		m, err := prometheus.NewConstMetric(descCollectorErrors, prometheus.GaugeValue, float64(n), name)
		if err != nil {
			m = prometheus.NewInvalidMetric(descCollectorErrors, err)
		}
		ch <- m
	}
}

func collectorNames(st *snapshot) []string {
	if st.latest.Facts == nil {
		return nil
	}
	names := append([]string(nil), st.latest.Facts.Collectors...)
	sort.Strings(names)
	return names
}

// labelValue makes a name read from the history file a valid label value
// (client_golang refuses invalid UTF-8) without control characters.
func labelValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descPlansWaiting = prometheus.NewDesc("etcdaudit_remediation_plans_waiting",
		"Plans of serve --remediate waiting for a person's approval (GET /api/plans).", nil, nil)
	descPlanWaitingAge = prometheus.NewDesc("etcdaudit_remediation_plan_waiting_seconds",
		"How long each plan has waited for approval, by plan, cluster and action list.", []string{"plan", "cluster", "actions"}, nil)
	descAutoDisabled = prometheus.NewDesc("etcdaudit_remediation_auto_disabled",
		"1 for each cluster whose auto remediation a failed run disabled, until a person clears it (POST /api/clusters/NAME/auto).", []string{"cluster"}, nil)
	descAutoDisabledCount = prometheus.NewDesc("etcdaudit_remediation_auto_disabled_clusters",
		"Clusters whose auto remediation is disabled after a failed run.", nil, nil)
)

// remCollector serves the plan and auto-disabled gauges from serve's
// remediation state at scrape time; absent when --remediate is off.
type remCollector struct{ s *Server }

func (c *remCollector) Describe(chan<- *prometheus.Desc) {}

func (c *remCollector) Collect(ch chan<- prometheus.Metric) {
	rm := c.s.rem
	if rm == nil {
		return
	}
	recs, ad := rm.snapshot()
	now := c.s.cfg.Now()
	waiting := 0
	for _, p := range recs {
		if p.Status != PlanWaiting {
			continue
		}
		waiting++
		ch <- constGauge(descPlanWaitingAge, max(0, now.Sub(p.Created).Seconds()), labelValue(p.ID), labelValue(p.Cluster), labelValue(joinActions(p.Actions)))
	}
	ch <- constGauge(descPlansWaiting, float64(waiting))
	for name := range ad {
		ch <- constGauge(descAutoDisabled, 1, labelValue(name))
	}
	ch <- constGauge(descAutoDisabledCount, float64(len(ad)))
}

func constGauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func joinActions(a []string) string {
	out := ""
	for i, x := range a {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

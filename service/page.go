package service

import (
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
)

//go:embed page.html.tmpl
var pageSrc string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"subject": func(cluster, member string) string {
		switch {
		case cluster == "" && member == "":
			return "fleet"
		case member == "":
			return cluster
		}
		return cluster + "/" + member
	},
	"join": strings.Join,
	"ago":  func(now, t time.Time) string { return age(now.Sub(t)) },
}).Parse(pageSrc))

// trendPoint is one scan on the compliance chart.
type trendPoint struct {
	X, Y    float64
	BarY    float64 // top of the failing bar
	BarH    float64
	Entry   history.Entry
	Percent string
}

type pageData struct {
	Now        time.Time
	Running    bool
	LastError  string
	Schedule   string
	Latest     *history.Entry
	Age        string
	Drift      *history.Drift
	Worse      []changeGroup           // newly failing, new errors, grouped by subject
	Better     []history.ControlChange // resolved, waived
	Still      []history.ControlChange
	Other      []history.ControlChange
	Facts      []history.FactChange
	Trend      []trendPoint
	Line       string
	TrendMin   string // the chart's lower bound (its upper is 100%)
	TrendW     float64
	TrendH     float64
	TrendScans []history.Entry
	// Remediation (serve --remediate): plans waiting for a person first,
	// then the recent others; clusters whose auto runs are disabled.
	Remediate    bool
	Waiting      []PlanRecord
	RecentPlans  []PlanRecord
	AutoDisabled map[string]AutoDisabled
}

const trendW, trendH = 720.0, 160.0

func (s *Server) handleIndex(w http.ResponseWriter, _ *http.Request) {
	st := s.snap()
	d := pageData{Now: s.cfg.Now(), Running: s.running.Load(), Schedule: s.sched.String(), Drift: st.drift,
		TrendW: trendW, TrendH: trendH, TrendScans: st.trend}
	if e := s.lastErr.Load(); e != nil {
		d.LastError = *e
	}
	if st.latest != nil {
		e := st.entry
		d.Latest = &e
		d.Age = age(d.Now.Sub(e.FinishedAt))
	}
	if st.drift != nil {
		var worse []history.ControlChange
		for _, c := range st.drift.Controls {
			switch c.Transition {
			case history.NewlyFailing, history.NewError:
				worse = append(worse, c)
			case history.Resolved, history.NewlyWaived:
				d.Better = append(d.Better, c)
			case history.StillFailing, history.StillError:
				d.Still = append(d.Still, c)
			default:
				d.Other = append(d.Other, c)
			}
		}
		d.Worse = groupBySubject(worse)
		for _, f := range st.drift.Facts { // worse first
			if f.Worse {
				d.Facts = append(d.Facts, f)
			}
		}
		for _, f := range st.drift.Facts {
			if !f.Worse {
				d.Facts = append(d.Facts, f)
			}
		}
	}
	if s.rem != nil {
		d.Remediate = true
		recs, ad := s.rem.snapshot()
		d.AutoDisabled = ad
		for _, p := range recs {
			switch {
			case p.Status == PlanWaiting:
				d.Waiting = append(d.Waiting, p)
			case len(d.RecentPlans) < 20:
				d.RecentPlans = append(d.RecentPlans, p)
			}
		}
	}
	var lo float64
	d.Trend, d.Line, lo = trendChart(st.trend)
	d.TrendMin = fmt.Sprintf("%.0f%%", 100*lo)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; frame-ancestors 'self'")
	if err := pageTmpl.Execute(w, d); err != nil {
		s.log.Warn("render index", "err", err)
	}
}

// changeGroup is one subject's newly failing or erroring controls. A member
// that went down turns every member control to error at once; one row per
// subject keeps the page about the member, not about fourteen controls.
type changeGroup struct {
	Cluster, Member string
	Changes         []history.ControlChange
	Same            bool // every change went to the same status with the same message
}

func groupBySubject(cs []history.ControlChange) []changeGroup {
	var out []changeGroup
	idx := map[[2]string]int{}
	for _, c := range cs {
		k := [2]string{c.Cluster, c.Member}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, changeGroup{Cluster: c.Cluster, Member: c.Member, Same: true})
		}
		g := &out[i]
		if len(g.Changes) > 0 {
			first := g.Changes[0]
			g.Same = g.Same && first.To == c.To && strings.Join(first.Messages, ";") == strings.Join(c.Messages, ";")
		}
		g.Changes = append(g.Changes, c)
	}
	return out
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0m"
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	default:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
}

// trendChart lays the recent scans out oldest to newest: compliance as a
// line from lo (the lowest compliance rounded down to 10%) to 100%, so a
// few points of change are visible, and failing results (failed + error)
// as bars scaled to the largest count.
func trendChart(entries []history.Entry) (pts []trendPoint, line string, lo float64) {
	n := len(entries)
	if n == 0 {
		return nil, "", 0
	}
	maxBad := 1
	lo = 1.0
	for _, e := range entries {
		maxBad = max(maxBad, e.Counts.Failed+e.Counts.Error)
		lo = min(lo, e.Compliance())
	}
	lo = math.Floor(lo*10) / 10
	if lo >= 1 {
		lo = 0.9
	}
	const pad = 20.0
	step := (trendW - 2*pad) / float64(max(n-1, 1))
	pts = make([]trendPoint, 0, n)
	var coords []string
	for i := n - 1; i >= 0; i-- { // entries are newest first
		e := entries[i]
		x := pad + float64(n-1-i)*step
		if n == 1 {
			x = trendW / 2
		}
		y := pad + (1-e.Compliance())/(1-lo)*(trendH-2*pad)
		barH := float64(e.Counts.Failed+e.Counts.Error) / float64(maxBad) * (trendH - 2*pad) / 3
		pts = append(pts, trendPoint{X: x, Y: y, BarY: trendH - pad - barH, BarH: barH, Entry: e,
			Percent: fmt.Sprintf("%.1f%%", 100*e.Compliance())})
		coords = append(coords, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	return pts, strings.Join(coords, " "), lo
}

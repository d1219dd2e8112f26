package service

import (
	_ "embed"
	"fmt"
	"html/template"
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
	Worse      []history.ControlChange // newly failing, new errors
	Better     []history.ControlChange // resolved, waived
	Still      []history.ControlChange
	Other      []history.ControlChange
	Facts      []history.FactChange
	Trend      []trendPoint
	Line       string
	TrendW     float64
	TrendH     float64
	TrendScans []history.Entry
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
		d.Age = d.Now.Sub(e.FinishedAt).Round(time.Minute).String()
	}
	if st.drift != nil {
		for _, c := range st.drift.Controls {
			switch c.Transition {
			case history.NewlyFailing, history.NewError:
				d.Worse = append(d.Worse, c)
			case history.Resolved, history.NewlyWaived:
				d.Better = append(d.Better, c)
			case history.StillFailing, history.StillError:
				d.Still = append(d.Still, c)
			default:
				d.Other = append(d.Other, c)
			}
		}
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
	d.Trend, d.Line = trendChart(st.trend)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; frame-ancestors 'self'")
	if err := pageTmpl.Execute(w, d); err != nil {
		s.log.Warn("render index", "err", err)
	}
}

// trendChart lays the recent scans out oldest to newest: compliance as a
// line (0–100%), failing results (failed + error) as bars scaled to the
// largest count.
func trendChart(entries []history.Entry) ([]trendPoint, string) {
	n := len(entries)
	if n == 0 {
		return nil, ""
	}
	maxBad := 1
	for _, e := range entries {
		maxBad = max(maxBad, e.Counts.Failed+e.Counts.Error)
	}
	const pad = 20.0
	step := (trendW - 2*pad) / float64(max(n-1, 1))
	pts := make([]trendPoint, 0, n)
	var line []string
	for i := n - 1; i >= 0; i-- { // entries are newest first
		e := entries[i]
		x := pad + float64(n-1-i)*step
		if n == 1 {
			x = trendW / 2
		}
		y := pad + (1-e.Compliance())*(trendH-2*pad)
		barH := float64(e.Counts.Failed+e.Counts.Error) / float64(maxBad) * (trendH - 2*pad) / 3
		pts = append(pts, trendPoint{X: x, Y: y, BarY: trendH - pad - barH, BarH: barH, Entry: e,
			Percent: fmt.Sprintf("%.1f%%", 100*e.Compliance())})
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	return pts, strings.Join(line, " ")
}

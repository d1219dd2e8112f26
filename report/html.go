package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/etcdaudit/etcdaudit/results"
)

// The page is one file with everything inline and a Content-Security-Policy
// that allows no network at all and only this exact script (by hash): even
// if an escaping bug let fleet text become markup, a browser would not run
// it nor fetch anything.
var (
	//go:embed html/report.html.tmpl
	htmlTemplateText string
	//go:embed html/report.css
	htmlCSS string
	//go:embed html/report.js
	htmlJS string

	htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
		"sym":    func(s results.Status) string { return statusStyle[s].sym },
		"join":   strings.Join,
		"count":  countOf,
		"counts": countsText,
	}).Parse(htmlTemplateText))
	htmlCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; " +
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sha256Sum(htmlJS)) + "'"
)

func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// htmlReporter writes the page an SRE lead or an auditor opens: the fleet at
// a glance (heat map, version spread), filters, and a drill-down per cluster.
type htmlReporter struct{ opts Options }

type htmlPage struct {
	Title, Inventory, ScanID, ToolVersion string
	Started, Duration, Generated          string
	CSP                                   string
	Style                                 template.CSS
	Script                                template.JS
	Overall                               results.Counts
	ProfileSkips                          string // see profileSkips
	Statuses                              []results.Status
	Tiers, Regions, Tags                  []string
	Controls                              []htmlControl
	HeatCols                              []htmlControl // controls judged on some cluster
	Rows                                  []htmlRow
	Fleet                                 []htmlResult
	Clusters                              []htmlCluster
	Waivers                               []htmlWaiver
	Chart                                 htmlChart
	HasFacts                              bool
	Verbose                               bool
	Remediation                           []htmlRun
	RemediationSince                      string
}

// htmlRun is a remediation run in the report's Remediation section.
type htmlRun struct {
	ID, Status, Approver, Started, Ended, Reason string
	Targets                                      []htmlTarget
}

type htmlTarget struct {
	Subject, Action, Controls string
	Steps, Acted, RolledBack  int
}

type htmlControl struct {
	results.Control
	TagList string // " a b " for the tag filter
	Counts  results.Counts
	ImpactS string
}

type htmlRow struct {
	Index          int
	Name           string
	Tier, Region   string
	Members, Up    int
	Cells          []htmlCell
	Worst          results.Status
	VersionSummary string
}

type htmlCell struct {
	Status results.Status // "" when the control did not judge this cluster
	Col    int
	Title  string
}

// htmlResult is one row of a drill-down. Control titles and tags are not
// repeated per row (the page's script looks them up in the controls table):
// on a large fleet they would be most of the page's weight.
type htmlResult struct {
	results.Result
	Subject string
	Waiver  string
}

type htmlCluster struct {
	Index        int
	Name         string
	Tier, Region string
	Labels       []string
	Counts       results.Counts
	Worst        results.Status
	Facts        []htmlKV
	Errors       []string
	Members      []htmlMember
	Results      []htmlResult
	Passed       int
}

type htmlKV struct{ K, V string }

type htmlMember struct {
	Name, Endpoint, Version, Raft, DB, V2, V3, Backend, TLS string
	Up                                                      bool
	Reason                                                  string
	Leader, Learner                                         bool
	Errors                                                  []string
	Samples                                                 []string
	Worst                                                   results.Status
	Counts                                                  results.Counts
}

type htmlWaiver struct {
	Control, Subject, Justification, Source, Expires, State string
	Status                                                  results.Status
}

type htmlChart struct {
	Width, Height int
	Bars          []htmlBar
}

type htmlBar struct {
	Label          string
	Count          int
	Y, W, TextX    int
	Minor          int // colour band per minor version
	LabelY, CountY int
}

func (h *htmlReporter) Render(w io.Writer, r *results.Report) error {
	v := newView(r)
	now := h.opts.now()
	p := htmlPage{
		Title:        "etcdaudit report",
		Inventory:    r.Inventory,
		ScanID:       r.ScanID,
		ToolVersion:  r.ToolVersion,
		Generated:    now.UTC().Format("2006-01-02 15:04:05 UTC"),
		CSP:          htmlCSP,
		Style:        template.CSS(htmlCSS),
		Script:       template.JS(htmlJS),
		Overall:      v.summary.Overall,
		ProfileSkips: profileSkips(r),
		Statuses:     results.Statuses,
		HasFacts:     r.Facts != nil,
		Verbose:      h.opts.Verbose,
	}
	if r.Inventory != "" {
		p.Title += ": " + r.Inventory
	}
	p.Remediation, p.RemediationSince = htmlRuns(h.opts.Remediation), ""
	if len(p.Remediation) > 0 && !h.opts.RemediationSince.IsZero() {
		p.RemediationSince = h.opts.RemediationSince.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if !r.StartedAt.IsZero() {
		p.Started = r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if d := duration(r); d > 0 {
		p.Duration = d.Round(10 * time.Millisecond).String()
	}
	tags := map[string]bool{}
	onCluster := map[string]bool{}
	for _, res := range r.Results {
		if res.Cluster != "" {
			onCluster[res.Control] = true
		}
	}
	col := map[string]int{}
	var heatIDs []string
	for _, c := range v.order {
		for _, t := range c.Tags {
			tags[t] = true
		}
		hc := htmlControl{
			Control: c, TagList: " " + strings.Join(c.Tags, " ") + " ",
			Counts: v.summary.PerControl[c.ID], ImpactS: strconv.FormatFloat(c.Impact, 'f', 1, 64),
		}
		p.Controls = append(p.Controls, hc)
		if onCluster[c.ID] {
			col[c.ID] = len(p.HeatCols)
			p.HeatCols = append(p.HeatCols, hc)
			heatIDs = append(heatIDs, c.ID)
		}
	}
	p.Tags = sortedSet(tags)
	tiers, regions := map[string]bool{}, map[string]bool{}
	for i, c := range v.clusters {
		row := htmlRow{Index: i, Name: c.Name, Tier: c.label("tier"), Region: c.label("region")}
		if row.Tier != "" {
			tiers[row.Tier] = true
		}
		if row.Region != "" {
			regions[row.Region] = true
		}
		perCol := make([][]results.Result, len(p.HeatCols))
		all := slices.Clone(c.Results)
		for _, m := range c.Members {
			all = append(all, m.Results...)
		}
		for _, res := range all {
			perCol[col[res.Control]] = append(perCol[col[res.Control]], res)
		}
		for j, rs := range perCol {
			cell := htmlCell{Col: j}
			if s, ok := worst(rs); ok {
				cell.Status = s
				var n results.Counts
				for _, res := range rs {
					n.Add(res.Status)
				}
				cell.Title = heatIDs[j] + ": " + countsText(n)
			}
			row.Cells = append(row.Cells, cell)
		}
		row.Worst, _ = worst(all)
		hc := h.cluster(v, i, c, now)
		row.Members, row.Up, row.VersionSummary = len(hc.Members), 0, clusterVersions(c)
		for _, m := range hc.Members {
			if m.Up {
				row.Up++
			}
		}
		hc.Tier, hc.Region, hc.Worst = row.Tier, row.Region, row.Worst
		p.Rows = append(p.Rows, row)
		p.Clusters = append(p.Clusters, hc)
	}
	p.Tiers, p.Regions = sortedSet(tiers), sortedSet(regions)
	for _, res := range v.fleet {
		if res.Status != results.Passed || h.opts.Verbose {
			p.Fleet = append(p.Fleet, h.result(v, res, "fleet"))
		}
	}
	p.Waivers = waiverRows(r, now)
	p.Chart = versionChart(versionSpread(r.Facts))

	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, p); err != nil {
		return fmt.Errorf("html template: %w", err)
	}
	_, err := w.Write(dropControls(buf.Bytes()))
	return err
}

// dropControls replaces, in the rendered page, the characters html/template
// lets through but HTML forbids or a reader should never get from fleet
// text: C0 controls but tab and newline (an ESC would recolour a terminal
// that cats the file), DEL, C1 controls and bidirectional overrides. The
// page's own template, style and script hold none, so only fleet text (from
// a report file or a cluster) changes, and the script's CSP hash still holds.
func dropControls(b []byte) []byte {
	if !bytes.ContainsFunc(b, isDropped) {
		return b
	}
	return bytes.Map(func(r rune) rune {
		if isDropped(r) {
			return utf8.RuneError
		}
		return r
	}, b)
}

func isDropped(r rune) bool {
	return (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidi(r)
}

func (h *htmlReporter) result(v *view, res results.Result, subject string) htmlResult {
	hr := htmlResult{Result: res, Subject: subject}
	if wv := res.Waiver; wv != nil {
		hr.Waiver = "waived" + expiry(wv) + ": " + wv.Justification
	}
	if wv := res.ExpiredWaiver; wv != nil {
		hr.Waiver = "waiver EXPIRED" + expiry(wv) + ": " + wv.Justification
	}
	return hr
}

func (h *htmlReporter) cluster(v *view, i int, c clusterView, now time.Time) htmlCluster {
	hc := htmlCluster{Index: i, Name: c.Name, Counts: c.Counts}
	keep := func(res results.Result) bool { return res.Status != results.Passed || h.opts.Verbose }
	for _, res := range c.Results {
		if keep(res) {
			hc.Results = append(hc.Results, h.result(v, res, "cluster"))
		} else {
			hc.Passed++
		}
	}
	for _, m := range c.Members {
		hm := htmlMember{Name: m.Name, Counts: m.Counts}
		hm.Worst, _ = worst(m.Results)
		if f := m.Facts; f != nil {
			fillMember(&hm, f, now)
		}
		for _, res := range m.Results {
			if keep(res) {
				hc.Results = append(hc.Results, h.result(v, res, m.Name))
			} else {
				hc.Passed++
			}
		}
		hc.Members = append(hc.Members, hm)
	}
	if f := c.Facts; f != nil {
		for _, k := range sortedKeys(f.Labels) {
			hc.Labels = append(hc.Labels, k+"="+f.Labels[k])
		}
		hc.Facts = clusterFacts(f)
		if f.DiscoveryErr != "" {
			hc.Errors = append(hc.Errors, "discovery: "+f.DiscoveryErr)
		}
		for _, e := range f.Errors {
			hc.Errors = append(hc.Errors, e.Collector+": "+e.Error)
		}
	}
	return hc
}

func htmlRuns(runs []results.RemediationRun) []htmlRun {
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	var out []htmlRun
	for _, r := range runs {
		hr := htmlRun{ID: r.ID, Status: r.Status, Approver: r.Approver, Started: stamp(r.Started), Ended: stamp(r.Ended), Reason: r.Reason}
		for _, t := range r.Targets {
			subj := t.Cluster
			if t.Member != "" {
				subj += "/" + t.Member
			}
			hr.Targets = append(hr.Targets, htmlTarget{Subject: subj, Action: t.Action, Controls: strings.Join(t.Controls, ", "),
				Steps: t.Steps, Acted: t.Acted, RolledBack: t.RolledBack})
		}
		out = append(out, hr)
	}
	return out
}

package history

import (
	"html/template"
	"io"
	"strings"
)

// driftHTML is a self-contained page (no script, no network: the CSP allows
// inline style only) for attaching a drift to a ticket or a mail.
var driftHTML = template.Must(template.New("drift").Funcs(template.FuncMap{
	"subject": subject,
	"dash":    orDash,
	"title":   func(t Transition) string { return transitionTitle[t] },
	"mark":    func(t Transition) string { return transitionMark[t] },
	"ref":     refText,
	"scan":    scanLine,
	"join":    strings.Join,
	"targets": runTargets,
	"verdict": runVerdict,
	"stamp":   func(r RemediationSeen) string { return r.End().UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<title>etcdaudit drift {{.D.From.ID}} → {{.D.To.ID}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}.worse{color:#b00020;font-weight:bold}.ref{color:#0b5394;font-size:.9em}code{font-size:.95em}</style>
</head><body>
<h1>Drift {{scan .D.From}} → {{scan .D.To}}</h1>
<p class="{{if .D.Worse}}worse{{end}}">{{.D.Headline}}</p>
{{range .D.Notes}}<p><i>{{.}}</i></p>{{end}}
{{range .Groups}}<h2>{{title .T}} ({{len .Rows}})</h2>
<table><thead><tr><th></th><th>control</th><th>subject</th><th>from → to</th><th>title</th><th>messages</th>{{if $.Runs}}<th>remediation</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr><td>{{mark .Transition}}</td><td><code>{{.Control}}</code></td><td>{{subject .Cluster .Member}}</td><td>{{dash (print .From)}} → {{dash (print .To)}}</td><td>{{.Title}}</td><td>{{join .Messages "; "}}</td>{{if $.Runs}}<td class="ref">{{range .Remediation}}<div>{{ref .}}</div>{{end}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{end}}{{if .D.Facts}}<h2>Fact changes ({{len .D.Facts}})</h2>
<table><thead><tr><th></th><th>kind</th><th>subject</th><th>change</th>{{if .Runs}}<th>remediation</th>{{end}}</tr></thead><tbody>
{{range .D.Facts}}<tr><td class="{{if .Worse}}worse{{end}}">{{if .Worse}}!{{else}}~{{end}}</td><td>{{.Kind}}</td><td>{{subject .Cluster .Member}}</td><td>{{.Message}}</td>{{if $.Runs}}<td class="ref">{{range .Remediation}}<div>{{ref .}}</div>{{end}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{end}}{{if .Runs}}<h2>Remediation runs between the scans ({{len .Runs}})</h2>
<table><thead><tr><th>run</th><th>status</th><th>approver</th><th>ended</th><th>touched</th><th>effect</th></tr></thead><tbody>
{{range .Runs}}<tr><td><code>{{.ID}}</code></td><td>{{.Status}}{{if .Reason}}<br><small>{{.Reason}}</small>{{end}}</td><td>{{.Approver}}</td><td>{{stamp .}}</td><td>{{targets .RemediationRun}}</td><td>{{verdict .}}</td></tr>
{{end}}</tbody></table>
{{end}}</body></html>
`))

type driftGroup struct {
	T    Transition
	Rows []ControlChange
}

func renderDriftHTML(w io.Writer, d *Drift) error {
	page := struct {
		D      *Drift
		Groups []driftGroup
		Runs   []RemediationSeen
	}{D: d, Runs: d.Remediation}
	for _, t := range Transitions {
		if rows := d.withTransition(t); len(rows) > 0 {
			page.Groups = append(page.Groups, driftGroup{t, rows})
		}
	}
	return driftHTML.Execute(w, page)
}

package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/etcdaudit/etcdaudit/results"
)

// jsonReporter writes the etcdaudit.report/v1 document
// (schema/report.schema.json). Facts are left out unless asked for: they can
// be large, and most consumers only want the verdicts.
type jsonReporter struct{ opts Options }

func (j *jsonReporter) Render(w io.Writer, r *results.Report) error {
	out := *r // shallow copy: fields below are replaced, never written through
	out.Schema = results.ReportSchema
	out.Summary = summaryOf(r)
	if !j.opts.IncludeFacts {
		out.Facts = nil
	}
	if out.Controls == nil {
		out.Controls = []results.Control{}
	}
	if out.Results == nil {
		out.Results = []results.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by the json reporter, for re-rendering
// without the fleet. It refuses other documents (a facts file, a newer
// schema) with an error that says what it found.
func ReadJSON(rd io.Reader) (*results.Report, error) {
	var r results.Report
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not a JSON report: %w at byte %d", err, se.Offset)
		}
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if r.Schema != results.ReportSchema {
		if r.Schema == "" {
			return nil, fmt.Errorf("not an etcdaudit report: no \"schema\" field (want %q)", results.ReportSchema)
		}
		return nil, fmt.Errorf("unsupported report schema %q (want %q)", r.Schema, results.ReportSchema)
	}
	for i, res := range r.Results {
		if res.Control == "" {
			return nil, fmt.Errorf("results[%d]: no control", i)
		}
		switch res.Status {
		case results.Passed, results.Failed, results.Error, results.Skipped, results.Waived:
		default:
			// Both quoted: a report file is input, and its control id may
			// hold escape sequences that would drive the terminal.
			return nil, fmt.Errorf("results[%d]: control %q: unknown status %q (want passed, failed, error, skipped or waived)", i, res.Control, res.Status)
		}
	}
	// A hand-edited or truncated summary must not decide an exit code.
	r.Summary = summaryOf(&r)
	return &r, nil
}

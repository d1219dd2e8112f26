package policies

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/buildinfo"
	"github.com/etcdaudit/etcdaudit/results"
)

// Judge is the one pipeline from facts to a report that scan, eval, serve
// and the demo all call: evaluate, apply waivers (an unknown control in the
// waivers is an error), sort results by cluster, member and control, and
// fill scan id, times, controls and summary. now is the judging time: it
// decides which waivers expired and stamps the scan id.
func Judge(ctx context.Context, e *Engine, facts *collectors.Facts, w *Waivers, now time.Time) (*results.Report, error) {
	if e == nil {
		return nil, fmt.Errorf("judge: no policy engine")
	}
	if facts == nil {
		return nil, fmt.Errorf("judge: no facts")
	}
	if err := w.Check(e.AllControls()); err != nil {
		return nil, err
	}
	rs, err := e.Evaluate(ctx, facts)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	w.Apply(rs, now)
	SortResults(rs)
	// The report's times are the facts' collection window, so judging saved
	// facts later (eval) gives the same report as the scan that saved them.
	started, finished := facts.StartedAt, facts.FinishedAt
	if started.IsZero() {
		started = now
	}
	if finished.IsZero() || finished.Before(started) {
		finished = now
	}
	return &results.Report{
		Schema:      results.ReportSchema,
		ToolVersion: buildinfo.String(),
		ScanID:      NewScanID(now),
		Inventory:   facts.Inventory,
		StartedAt:   started,
		FinishedAt:  finished,
		Controls:    e.Controls(),
		Results:     rs,
		Summary:     results.Summarize(rs),
		Facts:       facts,
	}, nil
}

// SortResults orders results by cluster, member, then control id; fleet
// results (no cluster) come first, a cluster's own results before its
// members'.
func SortResults(rs []results.Result) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		return a.Control < b.Control
	})
}

// NewScanID returns a sortable, unique scan id: UTC time plus random bits.
func NewScanID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

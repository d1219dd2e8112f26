package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/history"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/results"
)

// remediationRuns reads the remediation journal of stateDir (read-only) and
// returns, as plain data for drift and the reports, the runs that touched
// one of clusters and were active between from and to (see
// results.RemediationRun.Between). No state dir or no journal: none.
func remediationRuns(stateDir string, clusters map[string]bool, from, to time.Time, log *slog.Logger) ([]results.RemediationRun, error) {
	if stateDir == "" {
		return nil, nil
	}
	j, err := journal.OpenReadOnly(stateDir)
	if errors.Is(err, journal.ErrNoJournal) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remediation journal: %w", err)
	}
	runs, err := j.Runs()
	if err != nil {
		return nil, fmt.Errorf("remediation journal: %w", err)
	}
	var out []results.RemediationRun
	for _, r := range runs {
		rr := results.RemediationRun{ID: r.ID, Status: r.Status, Approver: r.Approver, Started: r.Started, Ended: r.Ended, Reason: r.Reason}
		if !rr.Between(from, to) {
			continue
		}
		p, err := remediate.DecodePlan(r.Plan)
		if err != nil {
			// A run whose plan cannot be read names no cluster: skipped, said in the log.
			if log != nil {
				log.Warn("remediation journal: run plan unreadable", "run", r.ID, "err", err)
			}
			continue
		}
		steps, err := j.Steps(r.ID)
		if err != nil {
			return nil, fmt.Errorf("remediation journal: %w", err)
		}
		rr.Targets = runTargets(p, steps)
		if slices.ContainsFunc(rr.Clusters(), func(c string) bool { return clusters[c] }) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// runTargets folds a run's planned steps into one target per (cluster,
// member, action), counting from the journal the steps that acted (done
// without being found already done) and those rolled back.
func runTargets(p *remediate.Plan, recs []journal.StepRecord) []results.RemediationTarget {
	byKey := map[string]journal.StepRecord{}
	for _, s := range recs {
		byKey[s.Key] = s
	}
	var out []results.RemediationTarget
	idx := map[[3]string]int{}
	for _, c := range p.Clusters {
		if c.Refused != "" {
			continue
		}
		for _, s := range c.Steps {
			k := [3]string{c.Name, s.Member, s.Action}
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, results.RemediationTarget{Cluster: c.Name, Member: s.Member, Action: s.Action})
			}
			t := &out[i]
			t.Steps++
			for _, ctl := range s.Controls {
				if !slices.Contains(t.Controls, ctl) {
					t.Controls = append(t.Controls, ctl)
				}
			}
			rec, ok := byKey[c.Name+"/"+s.ID]
			switch {
			case !ok:
			case rec.Status == journal.StepRolledBack:
				t.Acted++
				t.RolledBack++
			case rec.Status == journal.StepDone && !strings.HasPrefix(rec.Note, "already done"):
				t.Acted++
			}
		}
	}
	return out
}

// reportClusters names the clusters a report judged or collected.
func reportClusters(reps ...*results.Report) map[string]bool {
	out := map[string]bool{}
	for _, r := range reps {
		if r == nil {
			continue
		}
		for _, x := range r.Results {
			if x.Cluster != "" {
				out[x.Cluster] = true
			}
		}
		if r.Facts != nil {
			for _, c := range r.Facts.Clusters {
				out[c.Name] = true
			}
		}
	}
	return out
}

// scanRemediation returns the remediation runs on rep's clusters since the
// previous scan recorded in stateDir (every run before rep when none is),
// and that scan's start. Reading fails softly: a warning, no section; the
// scan itself does not depend on the journal.
func scanRemediation(ctx context.Context, a *app, stateDir string, rep *results.Report) ([]results.RemediationRun, time.Time) {
	if stateDir == "" {
		return nil, time.Time{}
	}
	var since time.Time
	if s, err := history.Open(ctx, stateDir, history.Options{ReadOnly: true}); err == nil {
		if list, err := s.List(ctx, 0); err == nil {
			for _, e := range list { // newest first
				if e.ID != rep.ScanID && e.StartedAt.Before(rep.StartedAt) {
					since = e.StartedAt
					break
				}
			}
		}
	}
	runs, err := remediationRuns(stateDir, reportClusters(rep), since, rep.StartedAt, a.log)
	if err != nil {
		fmt.Fprintf(a.stderr, "etcdaudit: warning: the report leaves out remediation: %v\n", err)
		return nil, time.Time{}
	}
	return runs, since
}

// explainDrift names, in a drift between two scans of stateDir's history,
// the remediation runs behind its changes. Runs still running at the newer
// scan are included: what they had done by then shows in it. A journal that
// cannot be read costs the names, not the drift: it is said in its notes.
func explainDrift(stateDir string, log *slog.Logger) func(d *history.Drift, older, newer *results.Report) {
	return func(d *history.Drift, older, newer *results.Report) {
		runs, err := remediationRuns(stateDir, reportClusters(older, newer), d.From.StartedAt, d.To.StartedAt, log)
		if err != nil {
			d.Notes = append(d.Notes, "remediation runs not shown: "+err.Error())
		}
		d.AttachRemediation(runs)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/buildinfo"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/remediate"
	"github.com/etcdaudit/etcdaudit/results"
	"github.com/etcdaudit/etcdaudit/service"
)

// serveRemediator is serve --remediate's link to the remediation engine:
// the same planner, gate, hooks and engine as `remediate plan` and `apply`,
// over the inventory as it is at each call.
type serveRemediator struct {
	log      *slog.Logger
	fleet    func() (*inventory.Fleet, error)
	stateDir string
	target   string
	gate     *remediate.Gate
	policies *policies.Engine
	waivers  string
	data     *remediate.UpgradeData
}

var _ service.Remediator = (*serveRemediator)(nil)

func newServeRemediator(ctx context.Context, a *app, o *serveOptions, fleet func() (*inventory.Fleet, error)) (*serveRemediator, error) {
	gate, err := remediate.NewGate(ctx, o.gate)
	if err != nil {
		return nil, err
	}
	eng, err := policies.New(ctx, o.policy)
	if err != nil {
		return nil, fmt.Errorf("remediation: policies: %w", err)
	}
	raw, err := policies.LoadData(o.policy.DataFiles)
	if err != nil {
		return nil, err
	}
	data, err := remediate.UpgradeDataFrom(raw)
	if err != nil {
		return nil, err
	}
	f, err := fleet()
	if err != nil {
		return nil, err
	}
	if _, err := hookRunners(f); err != nil {
		return nil, err
	}
	return &serveRemediator{log: a.log, fleet: fleet, stateDir: o.stateDir, target: o.target, gate: gate, policies: eng, waivers: o.waivers, data: data}, nil
}

func (r *serveRemediator) judge(ctx context.Context, facts *collectors.Facts) (*results.Report, error) {
	var w *policies.Waivers
	if r.waivers != "" {
		var err error
		if w, err = policies.LoadWaiversContext(ctx, r.waivers); err != nil {
			return nil, err
		}
	}
	return policies.Judge(ctx, r.policies, facts, w, time.Now().UTC())
}

// Plan collects the full facts of the clusters the scan found failing a
// control that names a remediation, judges them, and plans them.
func (r *serveRemediator) Plan(ctx context.Context, rep *results.Report) (*remediate.Plan, error) {
	names := remediate.FailingClusters(rep)
	if len(names) == 0 {
		return nil, nil
	}
	fleet, err := r.fleet()
	if err != nil {
		return nil, err
	}
	sub := &inventory.Fleet{Name: fleet.Name, Source: fleet.Source}
	for _, c := range fleet.Clusters {
		for _, n := range names {
			if c.Name == n {
				sub.Clusters = append(sub.Clusters, c)
			}
		}
	}
	if len(sub.Clusters) == 0 {
		return nil, nil
	}
	facts, err := collectors.Run(ctx, sub, collectors.Options{Profile: collectors.ProfileFull, Logger: r.log})
	if err != nil {
		return nil, fmt.Errorf("collect for the plan: %w", err)
	}
	if facts.Interrupted != "" {
		return nil, fmt.Errorf("collect for the plan: interrupted: %s", facts.Interrupted)
	}
	judged, err := r.judge(ctx, facts)
	if err != nil {
		return nil, err
	}
	runners, err := hookRunners(fleet)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	backups := filepath.Join(r.stateDir, "backups")
	return remediate.MakePlan(judged, facts, sub, r.data, remediate.Options{
		Target: r.target, Clusters: names, BackupDir: backups, ToolVersion: buildinfo.Version, Now: now,
		Data: remediate.V2Planner{BackupDir: backups, Now: now},
		Hooks: func(c string) remediate.HookSet {
			if h := runners[c]; h != nil {
				return remediate.InventoryHooks(h)
			}
			return nil
		},
	})
}

// Engine builds the engine over the inventory as it is now; its progress
// lines go to the log.
func (r *serveRemediator) Engine(context.Context) (*remediate.Engine, error) {
	fleet, err := r.fleet()
	if err != nil {
		return nil, err
	}
	runners, err := hookRunners(fleet)
	if err != nil {
		return nil, err
	}
	return &remediate.Engine{Fleet: fleet, StateDir: r.stateDir, Gate: r.gate, Hooks: runners, Log: r.log,
		Out: &logLines{log: r.log}, Judge: r.judge}, nil
}

// logLines turns the engine's progress lines into log records.
type logLines struct {
	log *slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.Reset()
			l.buf.WriteString(line)
			return len(p), nil
		}
		if line = strings.TrimSpace(line); line != "" {
			l.log.Info("remediation progress", "line", line)
		}
	}
}

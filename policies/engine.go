// Package policies judges facts with Rego controls: it compiles the bundled
// pack and the user's policy folders once, prepares one query per scope
// (member, cluster, fleet) that returns every selected control's verdict in
// a single evaluation per subject, applies waivers, and builds the report.
//
// A control is a package under etcdaudit.controls with METADATA
// annotations (custom.id, impact, scope, tags, remediation, refs, needs).
// It yields `deny` messages (failed) or `skip` reasons (skipped); a control
// with neither passed. When a fact named in custom.needs is missing, a
// result that did not fail becomes error (the collector failed or the
// member is unreachable) or skipped (the collector was not run or the
// server cannot answer): a missing fact is never a pass.
//
// Input per subject (built by internal/regoeval): member controls get input.member (one
// collectors.MemberFacts), input.cluster (its cluster's facts without the
// members list) and input.fleet ({inventory}); cluster controls get
// input.cluster (with members) and input.fleet; fleet controls get
// input.fleet ({inventory, clusters}). Data is data.etcdaudit.*.
package policies

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/etcdaudit/etcdaudit/internal/regoeval"
	"github.com/etcdaudit/etcdaudit/results"
)

// Config selects the policies and data an Engine judges with.
type Config struct {
	// PolicyDirs are folders (or single .rego files) of user policies.
	PolicyDirs []string
	// DataFiles are YAML/JSON files deep-merged over the bundled data.
	DataFiles []string
	// NoBuiltin leaves out the bundled controls (their helper libraries and
	// the bundled data stay, for user controls to build on).
	NoBuiltin bool
	// Controls are ids or globs (path.Match syntax) of controls to run;
	// empty means all.
	Controls []string
	// Tags keep only controls carrying at least one of them.
	Tags []string
	// AllowNetBuiltins lets policies call NetBuiltins (see sandbox.go).
	AllowNetBuiltins bool
	// EvalTimeout is the deadline of each evaluation of one subject's
	// controls; 0 means DefaultEvalTimeout. A control still running then
	// is an error result naming it and the deadline, is not evaluated
	// again in that scan, and the scan goes on.
	EvalTimeout time.Duration
	// NoOptimize judges every control per subject, without reusing
	// verdicts (benchmarks, and ruling the optimiser out of a bug).
	NoOptimize bool
}

// DefaultEvalTimeout bounds one subject's evaluation: the bundled pack
// judges a member in well under a millisecond.
const DefaultEvalTimeout = 10 * time.Second

// Engine holds compiled policies and prepared queries. It is safe for
// concurrent use: evaluation never writes the store.
type Engine struct {
	all      []*control
	selected []*control
	data     map[string]any
	// scopes are the selected controls of each scope, sorted by id: the
	// order of the evaluator's verdicts.
	scopes map[results.Scope][]*control
	eval   *regoeval.Evaluator
}

// New loads, checks and compiles every policy, loads the data, and prepares
// one query per scope for the selected controls. Any problem in any policy
// is an error listing all of them with file:line.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	srcs, err := loadSources(cfg.PolicyDirs, cfg.NoBuiltin, false)
	if err != nil {
		return nil, err
	}
	mods, probs := parseSources(srcs)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ProblemsError{Problems: probs}
	}
	ctrls, probs := extractControls(mods)
	compiler, cprobs := compile(mods, cfg.AllowNetBuiltins)
	probs = append(probs, cprobs...)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ProblemsError{Problems: probs}
	}
	if len(ctrls) == 0 {
		return nil, fmt.Errorf("no controls: --no-builtin given and no package under etcdaudit.controls in %s", strings.Join(cfg.PolicyDirs, ", "))
	}
	data, err := LoadData(cfg.DataFiles)
	if err != nil {
		return nil, err
	}
	sel, err := selectControls(ctrls, cfg.Controls, cfg.Tags)
	if err != nil {
		return nil, err
	}
	e := &Engine{all: ctrls, selected: sel, data: data, scopes: map[results.Scope][]*control{}}
	for _, c := range sel {
		e.scopes[c.Scope] = append(e.scopes[c.Scope], c)
	}
	evalControls := func(s results.Scope) []regoeval.Control {
		cs := e.scopes[s]
		slices.SortStableFunc(cs, func(a, b *control) int { return strings.Compare(a.ID, b.ID) })
		out := make([]regoeval.Control, len(cs))
		for i, c := range cs {
			out[i] = regoeval.Control{ID: c.ID, Ref: c.ref, HasDeny: c.hasDeny, HasSkip: c.hasSkip}
		}
		return out
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"etcdaudit": data},
		inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	timeout := cfg.EvalTimeout
	if timeout <= 0 {
		timeout = DefaultEvalTimeout
	}
	e.eval, err = regoeval.New(ctx, compiler, store, regoeval.Scopes{
		Member: evalControls(results.ScopeMember), Cluster: evalControls(results.ScopeCluster), Fleet: evalControls(results.ScopeFleet),
	}, regoeval.Options{Timeout: timeout, NoOptimize: cfg.NoOptimize})
	if err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	return e, nil
}

// selectControls applies --controls (ids or globs) and --tags. A pattern or
// tag matching nothing is an error: a typo must not silently run nothing.
func selectControls(all []*control, patterns, tags []string) ([]*control, error) {
	patterns = splitList(patterns)
	tags = splitList(tags)
	var problems []string
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			problems = append(problems, fmt.Sprintf("--controls %q: %v", p, err))
			continue
		}
		if !slices.ContainsFunc(all, func(c *control) bool { ok, _ := path.Match(p, c.ID); return ok }) {
			problems = append(problems, fmt.Sprintf("--controls %q matches no control", p))
		}
	}
	for _, t := range tags {
		if !slices.ContainsFunc(all, func(c *control) bool { return slices.Contains(c.Tags, t) }) {
			problems = append(problems, fmt.Sprintf("--tags %q: no control has this tag", t))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("select controls: %s", strings.Join(problems, "; "))
	}
	var out []*control
	for _, c := range all {
		if len(patterns) > 0 && !slices.ContainsFunc(patterns, func(p string) bool { ok, _ := path.Match(p, c.ID); return ok }) {
			continue
		}
		if len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(c.Tags, t) }) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Controls returns the selected controls' metadata, sorted by id.
func (e *Engine) Controls() []results.Control {
	out := make([]results.Control, len(e.selected))
	for i, c := range e.selected {
		out[i] = c.Control
	}
	return out
}

// AllControls returns every loaded control, selected or not.
func (e *Engine) AllControls() []results.Control {
	out := make([]results.Control, len(e.all))
	for i, c := range e.all {
		out[i] = c.Control
	}
	return out
}

// Needs returns the facts a control needs (custom.needs).
func (e *Engine) Needs(id string) []string {
	for _, c := range e.all {
		if c.ID == id {
			return slices.Clone(c.needs)
		}
	}
	return nil
}

// Data returns data.etcdaudit as loaded (bundled + --data files). Callers
// must not modify it.
func (e *Engine) Data() map[string]any { return e.data }

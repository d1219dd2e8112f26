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
// Input per subject (see input.go): member controls get input.member (one
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
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

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
}

// Engine holds compiled policies and prepared queries. It is safe for
// concurrent use: evaluation never writes the store.
type Engine struct {
	all      []*control
	selected []*control
	compiler *ast.Compiler
	store    storage.Store
	data     map[string]any
	scopes   map[results.Scope]*scopeQuery
	// memoRules are helper rules member queries share across members.
	memoRules memoRules
	// shape is the part of the facts the selected controls can read
	// (nil: all of it); only that is converted (prune.go).
	shape *shape

	mu     sync.Mutex
	single map[string]*query // per-control queries, built on a failed evaluation only
}

// scopeQuery judges one scope: controls in one joint query per subject,
// plus (member scope) memo groups judged once per distinct input values.
// A member control whose skip rules read only narrow facts while its deny
// rules do not is split: deny in the joint query, skip in a memo group.
type scopeQuery struct {
	order  []*control // every control of the scope, sorted by id
	joint  []part     // judged per subject by pq
	pq     *query
	groups []*memoGroup
}

// part is what one query yields for one control: its deny messages, its
// skip reasons, or both; idx is the control's place in scopeQuery.order.
type part struct {
	c          *control
	idx        int
	deny, skip bool
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
	e := &Engine{
		all:      ctrls,
		selected: sel,
		compiler: compiler,
		data:     data,
		store: inmem.NewFromObjectWithOpts(map[string]any{"etcdaudit": data},
			inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true)),
		scopes: map[results.Scope]*scopeQuery{},
		single: map[string]*query{},
	}
	if !noMemo {
		e.memoRules = findMemoRules(compiler)
	}
	for _, scope := range []results.Scope{results.ScopeMember, results.ScopeCluster, results.ScopeFleet} {
		var cs []*control
		for _, c := range sel {
			if c.Scope == scope {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			continue
		}
		q, err := e.prepareScope(ctx, scope, cs, !noMemo)
		if err != nil {
			return nil, fmt.Errorf("prepare %s query: %w", scope, err)
		}
		e.scopes[scope] = q
	}
	if !noPrune {
		e.shape = e.factsShape()
	}
	return e, nil
}

// noMemo turns memo groups off (tests compare both ways).
var noMemo = false

func (e *Engine) prepareScope(ctx context.Context, scope results.Scope, cs []*control, memo bool) (*scopeQuery, error) {
	q := &scopeQuery{order: slices.Clone(cs)}
	slices.SortStableFunc(q.order, func(a, b *control) int { return strings.Compare(a.ID, b.ID) })
	byPaths := map[string]*memoGroup{}
	group := func(paths []memoPath, p part) {
		k := pathsKey(paths)
		g := byPaths[k]
		if g == nil {
			g = &memoGroup{paths: paths}
			byPaths[k] = g
			q.groups = append(q.groups, g)
		}
		g.parts = append(g.parts, p)
	}
	for idx, c := range q.order {
		whole := part{c: c, idx: idx, deny: true, skip: true}
		if memo && scope == results.ScopeMember {
			if paths, ok := inputPaths(e.compiler, c.ref); ok {
				group(paths, whole)
				continue
			}
			if c.hasSkip {
				if paths, ok := inputPaths(e.compiler, c.ref.Append(ast.StringTerm("skip"))); ok {
					q.joint = append(q.joint, part{c: c, idx: idx, deny: true})
					group(paths, part{c: c, idx: idx, skip: true})
					continue
				}
			}
		}
		q.joint = append(q.joint, whole)
	}
	var err error
	if len(q.joint) > 0 {
		if q.pq, err = e.prepare(ctx, q.joint); err != nil {
			return nil, err
		}
	}
	for _, g := range q.groups {
		if g.pq, err = e.prepare(ctx, g.parts); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// verdictsQuery builds `verdicts := [[deny, skip], …]` over the parts:
// one evaluation yields every control's messages. A partial set rule with
// no matching body is the empty set; a package without the rule, or a part
// that does not yield it, gets set() so no ref is undefined (an undefined
// complete rule falls back to judging each control alone).
func verdictsQuery(ps []part) string {
	var b strings.Builder
	b.WriteString("verdicts := [")
	for i, pt := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		c := pt.c
		p := c.ref.String()
		deny, skip := "set()", "set()"
		if c.hasDeny && pt.deny {
			deny = p + ".deny"
		}
		if c.hasSkip && pt.skip {
			skip = p + ".skip"
		}
		fmt.Fprintf(&b, "[%s, %s]", deny, skip)
	}
	b.WriteString("]")
	return b.String()
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

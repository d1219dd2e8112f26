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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/etcdaudit/etcdaudit/collectors"
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

	mu     sync.Mutex
	single map[string]*rego.PreparedEvalQuery // per-control queries, built on a failed evaluation only
}

// scopeQuery judges one scope: controls in one joint query per subject,
// plus (member scope) memo groups judged once per distinct input values.
type scopeQuery struct {
	controls []*control // judged per subject by pq
	pq       rego.PreparedEvalQuery
	groups   []*memoGroup
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
	compiler, cprobs := compile(mods)
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
		single: map[string]*rego.PreparedEvalQuery{},
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
	return e, nil
}

// noMemo turns memo groups off (tests compare both ways).
var noMemo = false

func (e *Engine) prepareScope(ctx context.Context, scope results.Scope, cs []*control, memo bool) (*scopeQuery, error) {
	q := &scopeQuery{}
	byPaths := map[string]*memoGroup{}
	for _, c := range cs {
		if memo && scope == results.ScopeMember {
			if paths, ok := inputPaths(e.compiler, c.ref); ok {
				k := pathsKey(paths)
				g := byPaths[k]
				if g == nil {
					g = &memoGroup{paths: paths}
					byPaths[k] = g
					q.groups = append(q.groups, g)
				}
				g.controls = append(g.controls, c)
				continue
			}
		}
		q.controls = append(q.controls, c)
	}
	var err error
	if len(q.controls) > 0 {
		if q.pq, err = e.prepare(ctx, q.controls); err != nil {
			return nil, err
		}
	}
	for _, g := range q.groups {
		if g.pq, err = e.prepare(ctx, g.controls); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// verdictsQuery builds `verdicts := [[deny, skip], …]` over the controls:
// one evaluation yields every control's messages. A partial set rule with
// no matching body is the empty set; a package without the rule gets set()
// so no ref is undefined (an undefined complete rule falls back to judging
// each control alone).
func verdictsQuery(cs []*control) string {
	var b strings.Builder
	b.WriteString("verdicts := [")
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		p := c.ref.String()
		deny, skip := "set()", "set()"
		if c.hasDeny {
			deny = p + ".deny"
		}
		if c.hasSkip {
			skip = p + ".skip"
		}
		fmt.Fprintf(&b, "[%s, %s]", deny, skip)
	}
	b.WriteString("]")
	return b.String()
}

func (e *Engine) prepare(ctx context.Context, cs []*control) (rego.PreparedEvalQuery, error) {
	return rego.New(
		rego.Query(verdictsQuery(cs)),
		rego.Compiler(e.compiler),
		rego.Store(e.store),
	).PrepareForEval(ctx)
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

// Evaluate judges facts with every selected control: one evaluation per
// member, per cluster and for the fleet. Results come in fleet, then
// cluster, then member order, each by control id. An error is returned only
// when the tool cannot judge at all (nil facts, cancelled context); a
// broken control makes its own results error.
func (e *Engine) Evaluate(ctx context.Context, facts *collectors.Facts) ([]results.Result, error) {
	if facts == nil {
		return nil, fmt.Errorf("evaluate: no facts")
	}
	in, err := buildInputs(facts)
	if err != nil {
		return nil, err
	}
	newRun := func() (*evalRun, error) {
		// One read transaction per worker instead of one per query: the
		// store is never written after New.
		txn, err := e.store.NewTransaction(ctx)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		run := &evalRun{txn: txn}
		if q := e.scopes[results.ScopeMember]; q != nil {
			for range q.groups {
				run.memo = append(run.memo, map[string][]any{})
			}
		}
		return run, nil
	}
	var out []results.Result
	if q := e.scopes[results.ScopeFleet]; q != nil {
		run, err := newRun()
		if err != nil {
			return nil, err
		}
		rs, err := e.evalSubject(ctx, run, q, in.fleet, func(c *control) (results.Status, string) {
			return missingFleet(c.needs, facts)
		}, "", "")
		e.store.Abort(ctx, run.txn)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	// Clusters are judged by GOMAXPROCS workers (one core under -cpu 1),
	// each with its own transaction and memo; results keep cluster order.
	perCluster := make([][]results.Result, len(facts.Clusters))
	workers := min(runtime.GOMAXPROCS(0), len(facts.Clusters))
	next := make(chan int)
	errs := make(chan error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := newRun()
			if err != nil {
				errs <- err
				cancel()
				return
			}
			defer e.store.Abort(context.Background(), run.txn)
			for i := range next {
				rs, err := e.evalCluster(ctx, run, in, facts, i)
				if err != nil {
					errs <- err
					cancel()
					return
				}
				perCluster[i] = rs
			}
		}()
	}
feed:
	for i := range facts.Clusters {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	for _, rs := range perCluster {
		out = append(out, rs...)
	}
	return out, nil
}

// evalCluster judges cluster i: its cluster controls, then each member.
func (e *Engine) evalCluster(ctx context.Context, run *evalRun, in *inputs, facts *collectors.Facts, i int) ([]results.Result, error) {
	var out []results.Result
	cf := &facts.Clusters[i]
	if q := e.scopes[results.ScopeCluster]; q != nil {
		rs, err := e.evalSubject(ctx, run, q, in.clusterInput(i), func(c *control) (results.Status, string) {
			return missingCluster(c.needs, cf, facts.Collectors)
		}, cf.Name, "")
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if q := e.scopes[results.ScopeMember]; q != nil {
		for j := range cf.Members {
			mf := &cf.Members[j]
			rs, err := e.evalSubject(ctx, run, q, in.memberInput(i, j), func(c *control) (results.Status, string) {
				return missingMember(c.needs, mf, facts.Collectors)
			}, cf.Name, MemberKey(mf))
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
		}
	}
	return out, nil
}

// MemberKey names a member in results: its name, or for a member that never
// started (no name yet) its ID, or its endpoint.
func MemberKey(m *collectors.MemberFacts) string {
	switch {
	case m.Name != "":
		return m.Name
	case m.ID != "":
		return m.ID
	default:
		return m.Endpoint
	}
}

type missingFunc func(c *control) (results.Status, string)

// noMetrics keeps OPA from allocating and timing a metrics set per query.
var noMetrics = metrics.NoOp()

// evalRun is the state of one Evaluate call: its read transaction and the
// member memo groups' verdicts by key.
type evalRun struct {
	txn  storage.Transaction
	memo []map[string][]any
}

// evalSubject judges one subject: the scope's joint query once, and each
// memo group once per distinct value of its input paths (memo holds the
// verdicts already computed in this Evaluate call, one map per group).
// Results come sorted by control id.
func (e *Engine) evalSubject(ctx context.Context, run *evalRun, q *scopeQuery, input ast.Value, missing missingFunc, cluster, member string) ([]results.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	out := make([]results.Result, 0, len(q.controls)+len(q.groups))
	judge := func(cs []*control, pq rego.PreparedEvalQuery, cache map[string][]any, key string) error {
		verdicts, hit := cache[key]
		if !hit {
			rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTransaction(run.txn), rego.EvalMetrics(noMetrics))
			if err == nil {
				verdicts, err = verdictList(rs, len(cs))
			}
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("evaluate: %w", ctx.Err())
				}
				// One control broke the joint evaluation (a conflict, a
				// type error): judge each alone so only it is an error.
				for _, c := range cs {
					out = append(out, e.evalAlone(ctx, run, c, input, missing, cluster, member))
				}
				return nil
			}
			if cache != nil {
				cache[key] = verdicts
			}
		}
		for i, c := range cs {
			out = append(out, judgeVerdict(c, verdicts[i], missing, cluster, member))
		}
		return nil
	}
	if len(q.controls) > 0 {
		if err := judge(q.controls, q.pq, nil, ""); err != nil {
			return nil, err
		}
	}
	for i, g := range q.groups {
		if err := judge(g.controls, g.pq, run.memo[i], memoKey(input, g.paths)); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Control < out[j].Control })
	return out, nil
}

func verdictList(rs rego.ResultSet, n int) ([]any, error) {
	if len(rs) != 1 {
		return nil, fmt.Errorf("query returned %d results, want 1", len(rs))
	}
	v, ok := rs[0].Bindings["verdicts"].([]any)
	if !ok || len(v) != n {
		return nil, fmt.Errorf("query returned %T of %d verdicts, want %d", rs[0].Bindings["verdicts"], len(v), n)
	}
	return v, nil
}

func (e *Engine) evalAlone(ctx context.Context, run *evalRun, c *control, input ast.Value, missing missingFunc, cluster, member string) results.Result {
	errResult := func(err error) results.Result {
		return results.Result{Control: c.ID, Cluster: cluster, Member: member, Status: results.Error,
			Messages: []string{fmt.Sprintf("policy error in %s (%s): %v", c.Package, c.Source, err)}}
	}
	e.mu.Lock()
	pq := e.single[c.ID]
	if pq == nil {
		p, err := e.prepare(ctx, []*control{c})
		if err != nil {
			e.mu.Unlock()
			return errResult(err)
		}
		pq = &p
		e.single[c.ID] = pq
	}
	e.mu.Unlock()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTransaction(run.txn), rego.EvalMetrics(noMetrics))
	if err != nil {
		return errResult(err)
	}
	if len(rs) == 0 {
		// An undefined complete deny/skip rule: nothing denied or skipped.
		return judgeVerdict(c, []any{[]any{}, []any{}}, missing, cluster, member)
	}
	v, err := verdictList(rs, 1)
	if err != nil {
		return errResult(err)
	}
	return judgeVerdict(c, v[0], missing, cluster, member)
}

// judgeVerdict decodes one control's [deny, skip] pair. A deny is a
// failure even when some needed fact is missing (it judged on facts that
// exist); otherwise a missing fact makes the result error or skipped.
func judgeVerdict(c *control, v any, missing missingFunc, cluster, member string) results.Result {
	r := results.Result{Control: c.ID, Cluster: cluster, Member: member}
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		r.Status, r.Messages = results.Error, []string{fmt.Sprintf("policy error in %s: malformed verdict %v", c.Package, v)}
		return r
	}
	deny, err := messages(pair[0])
	var skip []string
	if err == nil {
		skip, err = messages(pair[1])
	}
	if err != nil {
		r.Status = results.Error
		r.Messages = []string{fmt.Sprintf("policy error in %s (%s): %v", c.Package, c.Source, err)}
		return r
	}
	if len(deny) > 0 {
		r.Status, r.Messages = results.Failed, deny
		return r
	}
	if st, msg := missing(c); st != "" {
		r.Status, r.Messages = st, []string{msg}
		return r
	}
	if len(skip) > 0 {
		r.Status, r.Messages = results.Skipped, skip
		return r
	}
	r.Status = results.Passed
	return r
}

// messages decodes a deny or skip collection: each entry must be a string.
func messages(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("deny/skip is %T, want a set of strings", v)
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("deny/skip entry %v is %T, want a string message", x, x)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

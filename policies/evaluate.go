package policies

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// Evaluate judges facts with every selected control: one evaluation per
// member, per cluster and for the fleet. Results come in fleet, then
// cluster, then member order, each by control id. An error is returned only
// when the tool cannot judge at all (nil facts, cancelled context); a
// broken control makes its own results error.
func (e *Engine) Evaluate(ctx context.Context, facts *collectors.Facts) ([]results.Result, error) {
	if facts == nil {
		return nil, fmt.Errorf("evaluate: no facts")
	}
	in, err := newInputs(facts, e.shape, e.scopes[results.ScopeFleet] != nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One cancellation for every query of this call, tied to ctx: without
	// it OPA starts a goroutine per query to watch the context.
	halt := topdown.NewCancel()
	defer context.AfterFunc(ctx, halt.Cancel)()
	newRun := func() (*evalRun, error) {
		// One read transaction per worker instead of one per query: the
		// store is never written after New.
		txn, err := e.store.NewTransaction(ctx)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		run := &evalRun{e: e, txn: txn, halt: halt, base: &baseCache{}}
		if q := e.scopes[results.ScopeMember]; q != nil {
			for range q.groups {
				run.memo = append(run.memo, map[string][]verdict{})
			}
			if len(e.memoRules) > 0 {
				run.rules = newMemoCache(e.memoRules)
			}
		}
		return run, nil
	}
	// Every subject gets one result per control of its scope, so each
	// cluster's results have a known place in out: workers write there
	// directly, in fleet, cluster, member order.
	count := func(s results.Scope) int {
		if q := e.scopes[s]; q != nil {
			return q.count()
		}
		return 0
	}
	offsets := make([]int, len(facts.Clusters)+1)
	offsets[0] = count(results.ScopeFleet)
	for i := range facts.Clusters {
		offsets[i+1] = offsets[i] + count(results.ScopeCluster) + len(facts.Clusters[i].Members)*count(results.ScopeMember)
	}
	out := make([]results.Result, offsets[len(facts.Clusters)])
	if q := e.scopes[results.ScopeFleet]; q != nil {
		run, err := newRun()
		if err != nil {
			return nil, err
		}
		rs, err := e.evalSubject(ctx, run, q, in.fleet, func(c *control) gap {
			return missingFleet(c.needs, facts)
		}, "", "", out[:0:offsets[0]])
		e.store.Abort(ctx, run.txn)
		in.fleet = nil // its clusters are released one by one as judged
		if err != nil {
			return nil, err
		}
		if len(rs) != offsets[0] {
			return nil, fmt.Errorf("evaluate fleet: %d results, want %d", len(rs), offsets[0])
		}
	}
	// Clusters are judged by GOMAXPROCS workers (one core under -cpu 1),
	// each with its own transaction and memo.
	workers := min(runtime.GOMAXPROCS(0), len(facts.Clusters))
	next := make(chan int)
	errs := make(chan error, workers)
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
			var conv converter
			for i := range next {
				ci, err := in.take(&conv, i)
				if err == nil {
					err = e.evalCluster(ctx, run, in, &ci, facts, i, out[offsets[i]:offsets[i]:offsets[i+1]])
				}
				if err != nil {
					errs <- err
					cancel()
					return
				}
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
	return out, nil
}

// evalCluster judges cluster i into dst (empty, with exactly the capacity
// for its results): its cluster controls, then each member.
func (e *Engine) evalCluster(ctx context.Context, run *evalRun, in *inputs, ci *clusterInputs, facts *collectors.Facts, i int, dst []results.Result) error {
	out := dst
	var err error
	cf := &facts.Clusters[i]
	if q := e.scopes[results.ScopeCluster]; q != nil {
		out, err = e.evalSubject(ctx, run, q, in.clusterInput(ci), func(c *control) gap {
			return missingCluster(c.needs, cf, facts.Collectors)
		}, cf.Name, "", out)
		if err != nil {
			return err
		}
	}
	if q := e.scopes[results.ScopeMember]; q != nil {
		for j := range cf.Members {
			mf := &cf.Members[j]
			key := MemberKey(mf)
			if key == "" {
				// No name, id or endpoint at all: still a distinct subject.
				key = fmt.Sprintf("member-%d", j+1)
			}
			out, err = e.evalSubject(ctx, run, q, in.memberInput(ci, j), func(c *control) gap {
				return missingMember(c.needs, mf, facts.Collectors)
			}, cf.Name, key, out)
			if err != nil {
				return err
			}
		}
	}
	if len(out) != cap(dst) {
		return fmt.Errorf("evaluate cluster %s: %d results, want %d", cf.Name, len(out), cap(dst))
	}
	return nil
}

// MemberKey names a member in results (see collectors.MemberFacts.Label).
func MemberKey(m *collectors.MemberFacts) string { return m.Label() }

type missingFunc func(c *control) gap

// noMetrics keeps OPA from allocating and timing a metrics set per query.
var noMetrics = metrics.NoOp()

// evalRun is the state of one worker of an Evaluate call: its read
// transaction and base cache, and the member memo groups' verdicts by key.
type evalRun struct {
	e    *Engine
	txn  storage.Transaction
	halt topdown.Cancel
	base *baseCache
	memo []map[string][]verdict
	key  []byte     // memo key scratch
	asm  []assembly // per-subject verdict slots

	// Member queries share memo rules' values through rules (memoCache);
	// member is set while a member is judged.
	rules  *memoCache
	member bool
}

// eval runs one query on one subject's input.
func (run *evalRun) eval(ctx context.Context, q *query, input ast.Value) (*ast.Term, error) {
	if run.member && run.rules != nil {
		run.rules.begin(input)
		t, err := run.query(ctx, q, input, run.rules)
		run.rules.end(err == nil)
		return t, err
	}
	return run.query(ctx, q, input, nil)
}

// evalSubject judges one subject: the scope's joint query once, and each
// memo group once per distinct value of its input paths (memo holds the
// verdicts already computed in this Evaluate call, one map per group).
// Results are appended to out, sorted by control id.
func (e *Engine) evalSubject(ctx context.Context, run *evalRun, q *scopeQuery, input ast.Value, missing missingFunc, cluster, member string, out []results.Result) ([]results.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	run.member = q == e.scopes[results.ScopeMember]
	// Each control's verdict is assembled from its parts (a split control
	// has two); a control whose query broke is judged alone instead.
	vs := run.verdicts(len(q.order))
	judge := func(ps []part, q *query, cache map[string][]verdict, key []byte) error {
		verdicts, hit := cache[string(key)]
		if !hit {
			t, err := run.eval(ctx, q, input)
			if err == nil {
				verdicts, err = verdictList(t, len(ps))
			}
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("evaluate: %w", ctx.Err())
				}
				// One control broke the joint evaluation (a conflict, a
				// type error): judge each alone so only it is an error.
				for _, p := range ps {
					vs[p.idx].alone = true
				}
				return nil
			}
			if cache != nil {
				cache[string(key)] = verdicts
			}
		}
		for i, p := range ps {
			vs[p.idx].add(p, verdicts[i])
		}
		return nil
	}
	if len(q.joint) > 0 {
		if err := judge(q.joint, q.pq, nil, nil); err != nil {
			return nil, err
		}
	}
	for i, g := range q.groups {
		run.key = memoKey(run.key[:0], input, g.paths)
		if err := judge(g.parts, g.pq, run.memo[i], run.key); err != nil {
			return nil, err
		}
	}
	for i, c := range q.order {
		if vs[i].alone {
			out = append(out, e.evalAlone(ctx, run, c, input, missing, cluster, member))
		} else {
			out = append(out, judgeVerdict(c, vs[i].verdict(), missing, cluster, member))
		}
	}
	return out, nil
}

// assembly gathers one control's verdict from the parts that yield it:
// one whole part, or a deny part and a skip part.
type assembly struct {
	whole, deny, skip verdict
	split, alone      bool
}

func (a *assembly) add(p part, v verdict) {
	switch {
	case p.deny && p.skip:
		a.whole = v
	case p.deny:
		a.deny, a.split = v, true
	default:
		a.skip, a.split = v, true
	}
}

// verdict is the control's verdict as one [deny, skip] evaluation would
// have decoded it: a JSON conversion error first (deny's, then skip's),
// then a malformed deny, then a malformed skip.
func (a *assembly) verdict() verdict {
	if !a.split {
		return a.whole
	}
	d, s := a.deny, a.skip
	switch {
	case d.jsonErr:
		return d
	case s.jsonErr:
		return s
	case d.err != nil:
		return d
	case s.err != nil:
		return s
	}
	return verdict{deny: d.deny, skip: s.skip}
}

// verdicts hands out the per-subject assembly slots, reused across
// subjects.
func (run *evalRun) verdicts(n int) []assembly {
	if cap(run.asm) < n {
		run.asm = make([]assembly, n)
	}
	run.asm = run.asm[:n]
	clear(run.asm)
	return run.asm
}

// verdict is one control's decoded [deny, skip] pair, or why it could not
// be decoded. A memo group's verdicts are decoded once and shared by every
// member with the same key.
type verdict struct {
	deny, skip []string
	err        error
	jsonErr    bool // err is the JSON conversion's (see decodeVerdict)
}

func verdictList(t *ast.Term, n int) ([]verdict, error) {
	if t == nil {
		return nil, fmt.Errorf("query returned 0 results, want 1")
	}
	var arr *ast.Array
	if t != nil {
		arr, _ = t.Value.(*ast.Array)
	}
	if arr == nil || arr.Len() != n {
		j := jsonOf(t)
		l, _ := j.([]any)
		return nil, fmt.Errorf("query returned %T of %d verdicts, want %d", j, len(l), n)
	}
	out := make([]verdict, n)
	for i := range out {
		out[i] = decodeVerdict(arr.Elem(i))
	}
	return out, nil
}

// jsonOf is a Rego value as the rego package would have returned it, for
// error messages that name its Go type.
func jsonOf(t *ast.Term) any {
	if t == nil {
		return nil
	}
	j, err := ast.JSON(t.Value)
	if err != nil {
		return t.Value.String()
	}
	return j
}

func (e *Engine) evalAlone(ctx context.Context, run *evalRun, c *control, input ast.Value, missing missingFunc, cluster, member string) results.Result {
	errResult := func(err error) results.Result {
		return results.Result{Control: c.ID, Cluster: cluster, Member: member, Status: results.Error,
			Messages: []string{fmt.Sprintf("policy error in %s (%s): %v", c.Package, c.Source, err)}}
	}
	e.mu.Lock()
	pq := e.single[c.ID]
	if pq == nil {
		p, err := e.prepare(ctx, []part{{c: c, deny: true, skip: true}})
		if err != nil {
			e.mu.Unlock()
			return errResult(err)
		}
		pq = p
		e.single[c.ID] = pq
	}
	e.mu.Unlock()
	t, err := run.eval(ctx, pq, input)
	if err != nil {
		return errResult(err)
	}
	if t == nil {
		// An undefined complete deny/skip rule: nothing denied or skipped.
		return judgeVerdict(c, verdict{deny: []string{}, skip: []string{}}, missing, cluster, member)
	}
	v, err := verdictList(t, 1)
	if err != nil {
		return errResult(err)
	}
	return judgeVerdict(c, v[0], missing, cluster, member)
}

// decodeVerdict decodes one control's [deny, skip] pair. A pair that is
// not all strings is first converted the way the rego package converts
// results, so a value JSON cannot hold is reported with the error the rego
// package gives for it.
func decodeVerdict(t *ast.Term) verdict {
	deny, skip, err := decodePair(t)
	if err != nil {
		if _, jerr := ast.JSON(t.Value); jerr != nil {
			return verdict{err: jerr, jsonErr: true}
		}
		return verdict{err: err}
	}
	return verdict{deny: deny, skip: skip}
}

func decodePair(t *ast.Term) (deny, skip []string, err error) {
	pair, ok := t.Value.(*ast.Array)
	if !ok || pair.Len() != 2 {
		return nil, nil, errMalformed{jsonOf(t)}
	}
	if deny, err = messages(pair.Elem(0)); err != nil {
		return nil, nil, err
	}
	if skip, err = messages(pair.Elem(1)); err != nil {
		return nil, nil, err
	}
	return deny, skip, nil
}

type errMalformed struct{ v any }

func (e errMalformed) Error() string { return fmt.Sprintf("malformed verdict %v", e.v) }

// judgeVerdict judges one control's decoded verdict. A deny is a failure
// even when some needed fact is missing (it judged on facts that exist);
// otherwise a missing fact makes the result error or skipped. Messages are
// copied: a memo group's verdict is shared by many members, and later
// stages (waivers) append to a result's messages.
func judgeVerdict(c *control, v verdict, missing missingFunc, cluster, member string) results.Result {
	r := results.Result{Control: c.ID, Cluster: cluster, Member: member}
	if m, ok := v.err.(errMalformed); ok {
		r.Status, r.Messages = results.Error, []string{fmt.Sprintf("policy error in %s: %v", c.Package, m)}
		return r
	}
	if v.err != nil {
		r.Status = results.Error
		r.Messages = []string{fmt.Sprintf("policy error in %s (%s): %v", c.Package, c.Source, v.err)}
		return r
	}
	if len(v.deny) > 0 {
		r.Status, r.Messages = results.Failed, slices.Clone(v.deny)
		return r
	}
	if g := missing(c); g.status != "" {
		r.Status, r.Messages, r.NotCollected = g.status, []string{g.msg}, g.notCollected
		return r
	}
	if len(v.skip) > 0 {
		r.Status, r.Messages = results.Skipped, slices.Clone(v.skip)
		return r
	}
	r.Status = results.Passed
	return r
}

// messages decodes a deny or skip collection (a set, or an array from a
// complete rule): each entry must be a string. Errors name the types the
// way encoding/json decodes them, as a policy author sees them.
func messages(t *ast.Term) ([]string, error) {
	var out []string
	var bad *ast.Term
	switch v := t.Value.(type) {
	case ast.Set:
		if v.Len() == 0 {
			return []string{}, nil
		}
		// Sorted, as the JSON conversion met them; no closure, so no
		// allocation beyond the result.
		out = make([]string, 0, v.Len())
		for _, x := range v.Slice() {
			if s, ok := x.Value.(ast.String); ok {
				out = append(out, string(s))
			} else if bad == nil {
				bad = x
			}
		}
	case *ast.Array:
		out = make([]string, 0, v.Len())
		for i := range v.Len() {
			x := v.Elem(i)
			if s, ok := x.Value.(ast.String); ok {
				out = append(out, string(s))
			} else if bad == nil {
				bad = x
			}
		}
	default:
		return nil, fmt.Errorf("deny/skip is %T, want a set of strings", jsonOf(t))
	}
	if bad != nil {
		j := jsonOf(bad)
		return nil, fmt.Errorf("deny/skip entry %v is %T, want a string message", j, j)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

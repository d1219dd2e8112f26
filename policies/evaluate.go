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
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

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
			key := MemberKey(mf)
			if key == "" {
				// No name, id or endpoint at all: still a distinct subject.
				key = fmt.Sprintf("member-%d", j+1)
			}
			rs, err := e.evalSubject(ctx, run, q, in.memberInput(i, j), func(c *control) (results.Status, string) {
				return missingMember(c.needs, mf, facts.Collectors)
			}, cf.Name, key)
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

package policies

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// query is one compiled verdicts query, evaluated with OPA's evaluator
// directly. The rego package around it built an evaluation context, a
// result set and a bindings map per evaluation — a tenth of judging a
// member — to hand back the one value the query binds.
type query struct {
	body ast.Body
	qc   ast.QueryCompiler
	out  ast.Var // the variable verdicts is bound to after compilation
}

func (e *Engine) prepare(_ context.Context, ps []part) (*query, error) {
	src := verdictsQuery(ps)
	body, err := ast.ParseBodyWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", src, err)
	}
	qc := e.compiler.QueryCompiler().WithEnablePrintStatements(false)
	compiled, err := qc.Compile(body)
	if err != nil {
		return nil, err
	}
	q := &query{body: compiled, qc: qc, out: ast.Var("verdicts")}
	for v, orig := range qc.RewrittenVars() {
		if orig == "verdicts" {
			q.out = v
		}
	}
	return q, nil
}

// query runs q on input in this worker's transaction and base cache (vc,
// when not nil, is the virtual cache) and returns the verdicts it bound, or
// nil when the query is undefined (a complete deny/skip rule with no value).
func (run *evalRun) query(ctx context.Context, q *query, input ast.Value, vc topdown.VirtualCache) (*ast.Term, error) {
	tq := topdown.NewQuery(q.body).
		WithQueryCompiler(q.qc).
		WithCompiler(run.e.compiler).
		WithStore(run.e.store).
		WithTransaction(run.txn).
		WithMetrics(noMetrics).
		WithCancel(run.halt).
		WithBaseCache(run.base).
		WithInput(ast.NewTerm(input))
	if vc != nil {
		tq = tq.WithVirtualCache(vc)
	}
	var out *ast.Term
	n := 0
	err := tq.Iter(ctx, func(qr topdown.QueryResult) error {
		n++
		out = qr[q.out]
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n > 1 {
		return nil, fmt.Errorf("query returned %d results, want 1", n)
	}
	return out, nil
}

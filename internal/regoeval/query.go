package regoeval

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// query is one compiled verdicts query, evaluated with OPA's evaluator
// (topdown) directly: the rego package around it would convert the
// verdicts to JSON-like Go values and back for each evaluation.
type query struct {
	body ast.Body
	qc   ast.QueryCompiler
	out  ast.Var // the variable verdicts is bound to after compilation
}

func (e *Evaluator) prepare(ps []part) (*query, error) {
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

// errDeadline is a query that missed Options.Timeout.
var errDeadline = errors.New("evaluation deadline exceeded")

// noMetrics keeps OPA from allocating and timing a metrics set per query.
var noMetrics = metrics.NoOp()

// query runs q on input in this worker's transaction, within the
// evaluation deadline, and returns the verdicts it bound, or nil when the
// query is undefined (a complete deny/skip rule with no value).
func (r *run) query(ctx context.Context, q *query, input ast.Value) (*ast.Term, error) {
	qctx := ctx
	if r.e.opts.Timeout > 0 {
		var cancel context.CancelFunc
		qctx, cancel = context.WithTimeout(ctx, r.e.opts.Timeout)
		defer cancel()
	}
	// topdown checks a Cancel, not the context: cancel it when the
	// context ends (no goroutine, unlike the rego package).
	halt := topdown.NewCancel()
	defer context.AfterFunc(qctx, halt.Cancel)()
	tq := topdown.NewQuery(q.body).
		WithQueryCompiler(q.qc).
		WithCompiler(r.e.compiler).
		WithStore(r.e.store).
		WithTransaction(r.txn).
		WithMetrics(noMetrics).
		WithCancel(halt).
		WithInput(ast.NewTerm(input))
	var out *ast.Term
	n := 0
	err := tq.Iter(qctx, func(qr topdown.QueryResult) error {
		n++
		out = qr[q.out]
		return nil
	})
	if err != nil {
		if ctx.Err() == nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
			return nil, errDeadline
		}
		return nil, err
	}
	if n > 1 {
		return nil, fmt.Errorf("query returned %d results, want 1", n)
	}
	return out, nil
}

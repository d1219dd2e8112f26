package regoeval

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// run is the state of one worker of an Evaluate call: its read
// transaction and the member memo groups' verdicts by key.
type run struct {
	e      *Evaluator
	txn    storage.Transaction
	stalls *stalls
	facts  *collectors.Facts
	memo   []map[string][]Verdict
	key    []byte     // memo key scratch
	asm    []assembly // per-subject verdict slots
	out    []Verdict  // per-subject verdicts handed to yield
}

// subject judges one subject: the scope's joint query once, and each memo
// group once per distinct value of its input paths (memo holds the
// verdicts already computed in this Evaluate call, one map per group).
// Once a control of the scope missed its deadline, every control of the
// scope is judged alone, and the stalled ones not at all.
func (r *run) subject(ctx context.Context, si int, sc *scope, input ast.Value, s Subject) ([]Verdict, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	vs := r.verdicts(len(sc.controls))
	judge := func(ps []part, q *query, cache map[string][]Verdict, key []byte) error {
		verdicts, hit := cache[string(key)]
		if !hit {
			t, err := r.query(ctx, q, input)
			if err == nil {
				verdicts, err = verdictList(t, len(ps))
			}
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("evaluate: %w", ctx.Err())
				}
				// One control broke the joint evaluation (a conflict, a
				// type error, its deadline): judge each alone so only it
				// is an error.
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
	if _, stalled := r.stalls.of(si, -1); stalled {
		for i := range vs {
			vs[i].alone = true
		}
	} else {
		if len(sc.joint) > 0 {
			if err := judge(sc.joint, sc.pq, nil, nil); err != nil {
				return nil, err
			}
		}
		for i, g := range sc.groups {
			r.key = memoKey(r.key[:0], input, g.paths)
			if err := judge(g.parts, g.pq, r.memo[i], r.key); err != nil {
				return nil, err
			}
		}
	}
	out := r.out[:0]
	for i := range sc.controls {
		if !vs[i].alone {
			out = append(out, vs[i].verdict())
			continue
		}
		v, err := r.alone(ctx, si, i, &sc.controls[i], input, s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	r.out = out
	return out, nil
}

// alone judges control c (index idx of scope si) by itself. A control
// that misses its deadline is recorded as stalled and not evaluated again
// in this Evaluate call.
func (r *run) alone(ctx context.Context, si, idx int, c *Control, input ast.Value, s Subject) (Verdict, error) {
	if at, _ := r.stalls.of(si, idx); at != "" {
		return Verdict{Err: fmt.Errorf("not evaluated: control %s did not finish within the evaluation deadline of %s on %s earlier in this run (--eval-timeout)", c.ID, r.e.opts.Timeout, at)}, nil
	}
	r.e.mu.Lock()
	pq := r.e.single[c.ID]
	if pq == nil {
		p, err := r.e.prepare([]part{{c: c, deny: true, skip: true}})
		if err != nil {
			r.e.mu.Unlock()
			return Verdict{Err: err}, nil
		}
		pq = p
		r.e.single[c.ID] = pq
	}
	r.e.mu.Unlock()
	t, err := r.query(ctx, pq, input)
	switch {
	case ctx.Err() != nil:
		return Verdict{}, fmt.Errorf("evaluate: %w", ctx.Err())
	case errors.Is(err, errDeadline):
		r.stalls.add(si, idx, where(r.facts, s))
		return Verdict{Err: fmt.Errorf("control %s did not finish within the evaluation deadline of %s (--eval-timeout); not evaluated again in this run", c.ID, r.e.opts.Timeout)}, nil
	case err != nil:
		return Verdict{Err: err}, nil
	case t == nil:
		// An undefined complete deny/skip rule: nothing denied or skipped.
		return Verdict{Deny: []string{}, Skip: []string{}}, nil
	}
	v, err := verdictList(t, 1)
	if err != nil {
		return Verdict{Err: err}, nil
	}
	return v[0], nil
}

// assembly gathers one control's verdict from the parts that yield it:
// one whole part, or a deny part and a skip part.
type assembly struct {
	whole, deny, skip Verdict
	split, alone      bool
}

func (a *assembly) add(p part, v Verdict) {
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
func (a *assembly) verdict() Verdict {
	if !a.split {
		return a.whole
	}
	d, s := a.deny, a.skip
	switch {
	case d.jsonErr:
		return d
	case s.jsonErr:
		return s
	case d.Err != nil:
		return d
	case s.Err != nil:
		return s
	}
	return Verdict{Deny: d.Deny, Skip: s.Skip}
}

// verdicts hands out the per-subject assembly slots, reused across
// subjects.
func (r *run) verdicts(n int) []assembly {
	if cap(r.asm) < n {
		r.asm = make([]assembly, n)
	}
	r.asm = r.asm[:n]
	clear(r.asm)
	return r.asm
}

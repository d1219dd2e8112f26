// Package regoeval evaluates compiled Rego controls over collected facts
// with OPA's evaluator. Each subject (the fleet, each cluster, each member)
// is judged by one query that yields every control's deny messages and
// skip reasons at once; a control that breaks that query is judged alone,
// so only its own verdict is an error.
//
// Its one optimisation is memo groups (memo.go): a member control that
// reads only low-cardinality facts (versions, v2 counts, backends) is
// judged once per distinct value of those facts instead of once per
// member. Options.NoOptimize turns it off; the verdicts are the same.
//
// Each evaluation has a deadline of its own (Options.Timeout): a control
// still running then gets an error verdict naming it and the deadline,
// and is not evaluated again in the same Evaluate call, so one slow control
// costs a scan about two deadlines, not one per subject.
package regoeval

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// Control is what the evaluator needs of one control: its package path,
// whether the package defines deny and skip, and its id for messages.
type Control struct {
	ID      string
	Ref     ast.Ref // e.g. data.etcdaudit.controls.versions.known_bad
	HasDeny bool
	HasSkip bool
}

// Scopes are the controls of each scope. Verdicts come in the same order.
type Scopes struct {
	Member, Cluster, Fleet []Control
}

// Options configure an Evaluator.
type Options struct {
	// Timeout is the deadline of each evaluation of one subject's
	// controls; 0 means none (only the caller's context bounds it).
	Timeout time.Duration
	// NoOptimize judges every control per subject (no memo groups).
	NoOptimize bool
}

// Subject says whose verdicts yield receives: Cluster -1 is the fleet,
// Member -1 a cluster itself; both index facts.Clusters and its Members.
type Subject struct {
	Cluster, Member int
}

// Verdict is one control's deny messages and skip reasons on one subject,
// or why they could not be had. Deny and Skip may be shared by many
// subjects: copy them before changing them.
type Verdict struct {
	Deny, Skip []string
	Err        error
	jsonErr    bool // Err is the JSON conversion's (see decodeVerdict)
}

// Evaluator judges facts with prepared queries. It is safe for concurrent
// use: evaluation never writes the store.
type Evaluator struct {
	compiler *ast.Compiler
	store    storage.Store
	opts     Options
	scopes   [nScopes]*scope

	mu     sync.Mutex
	single map[string]*query // per-control queries, built on a failed evaluation only
}

const (
	memberScope = iota
	clusterScope
	fleetScope
	nScopes
)

// scope judges one scope: controls in one joint query per subject, plus
// (member scope) memo groups judged once per distinct input values. A
// member control whose skip rules read only narrow facts while its deny
// rules do not is split: deny in the joint query, skip in a memo group.
type scope struct {
	controls []Control
	joint    []part // judged per subject by pq
	pq       *query
	groups   []*memoGroup
}

// part is what one query yields for one control: its deny messages, its
// skip reasons, or both; idx is the control's place in scope.controls.
type part struct {
	c          *Control
	idx        int
	deny, skip bool
}

// New prepares one query per scope (and per memo group) over comp, whose
// data is in store.
func New(ctx context.Context, comp *ast.Compiler, store storage.Store, scopes Scopes, opts Options) (*Evaluator, error) {
	e := &Evaluator{compiler: comp, store: store, opts: opts, single: map[string]*query{}}
	for i, cs := range [nScopes][]Control{scopes.Member, scopes.Cluster, scopes.Fleet} {
		if len(cs) == 0 {
			continue
		}
		sc, err := e.prepareScope(ctx, slices.Clone(cs), i == memberScope && !opts.NoOptimize)
		if err != nil {
			return nil, err
		}
		e.scopes[i] = sc
	}
	return e, nil
}

func (e *Evaluator) prepareScope(ctx context.Context, cs []Control, memo bool) (*scope, error) {
	sc := &scope{controls: cs}
	byPaths := map[string]*memoGroup{}
	group := func(paths []ast.Ref, p part) {
		k := pathsKey(paths)
		g := byPaths[k]
		if g == nil {
			g = &memoGroup{paths: paths}
			byPaths[k] = g
			sc.groups = append(sc.groups, g)
		}
		g.parts = append(g.parts, p)
	}
	for idx := range sc.controls {
		c := &sc.controls[idx]
		whole := part{c: c, idx: idx, deny: true, skip: true}
		if memo {
			if paths, ok := inputPaths(e.compiler, c.Ref); ok {
				group(paths, whole)
				continue
			}
			if c.HasSkip {
				if paths, ok := inputPaths(e.compiler, c.Ref.Append(ast.StringTerm("skip"))); ok {
					sc.joint = append(sc.joint, part{c: c, idx: idx, deny: true})
					group(paths, part{c: c, idx: idx, skip: true})
					continue
				}
			}
		}
		sc.joint = append(sc.joint, whole)
	}
	var err error
	if len(sc.joint) > 0 {
		if sc.pq, err = e.prepare(sc.joint); err != nil {
			return nil, err
		}
	}
	for _, g := range sc.groups {
		if g.pq, err = e.prepare(g.parts); err != nil {
			return nil, err
		}
	}
	return sc, nil
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
		p := c.Ref.String()
		deny, skip := "set()", "set()"
		if c.HasDeny && pt.deny {
			deny = p + ".deny"
		}
		if c.HasSkip && pt.skip {
			skip = p + ".skip"
		}
		fmt.Fprintf(&b, "[%s, %s]", deny, skip)
	}
	b.WriteString("]")
	return b.String()
}

// Evaluate judges every subject of facts: the fleet first, then each
// cluster and its members, clusters in parallel (GOMAXPROCS workers).
// yield receives each subject's verdicts, one per control of its scope in
// the order given to New; it is called from several goroutines, and the
// slice is reused after it returns. An error is returned only when
// evaluation cannot go on (cancelled context, a store that cannot be
// read); a broken or slow control gets an error verdict instead.
func (e *Evaluator) Evaluate(ctx context.Context, facts *collectors.Facts, yield func(Subject, []Verdict)) error {
	if facts == nil {
		return fmt.Errorf("evaluate: no facts")
	}
	in, err := newInputs(facts, e.scopes[fleetScope] != nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stalls := &stalls{}
	newRun := func() (*run, error) {
		// One read transaction per worker instead of one per query: the
		// store is never written after New.
		txn, err := e.store.NewTransaction(ctx)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		r := &run{e: e, txn: txn, stalls: stalls, facts: facts}
		if sc := e.scopes[memberScope]; sc != nil {
			for range sc.groups {
				r.memo = append(r.memo, map[string][]Verdict{})
			}
		}
		return r, nil
	}
	if sc := e.scopes[fleetScope]; sc != nil {
		r, err := newRun()
		if err != nil {
			return err
		}
		vs, err := r.subject(ctx, fleetScope, sc, in.fleet, Subject{-1, -1})
		e.store.Abort(ctx, r.txn)
		in.fleet = nil // its clusters are released one by one as judged
		if err != nil {
			return err
		}
		yield(Subject{-1, -1}, vs)
	}
	workers := min(runtime.GOMAXPROCS(0), len(facts.Clusters))
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			r, err := newRun()
			if err != nil {
				errs <- err
				cancel()
				return
			}
			defer e.store.Abort(context.Background(), r.txn)
			var conv converter
			for i := range next {
				ci, err := in.take(&conv, i)
				if err == nil {
					err = r.cluster(ctx, in, &ci, i, yield)
				}
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
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
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	return nil
}

// cluster judges cluster i: its cluster controls, then each member.
func (r *run) cluster(ctx context.Context, in *inputs, ci *clusterInputs, i int, yield func(Subject, []Verdict)) error {
	if sc := r.e.scopes[clusterScope]; sc != nil {
		vs, err := r.subject(ctx, clusterScope, sc, in.clusterInput(ci), Subject{i, -1})
		if err != nil {
			return err
		}
		yield(Subject{i, -1}, vs)
	}
	if sc := r.e.scopes[memberScope]; sc != nil {
		for j := range r.facts.Clusters[i].Members {
			vs, err := r.subject(ctx, memberScope, sc, in.memberInput(ci, j), Subject{i, j})
			if err != nil {
				return err
			}
			yield(Subject{i, j}, vs)
		}
	}
	return nil
}

// stalls are the controls that missed their deadline in one Evaluate
// call, by scope and index, with the subject where they did.
type stalls struct {
	any atomic.Bool
	mu  sync.Mutex
	at  map[[2]int]string
}

func (s *stalls) add(scope, idx int, where string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[[2]int]string{}
	}
	if _, ok := s.at[[2]int{scope, idx}]; !ok {
		s.at[[2]int{scope, idx}] = where
	}
	s.any.Store(true)
}

// of returns where control idx of scope missed its deadline ("" if not),
// and whether any control of the scope did.
func (s *stalls) of(scope, idx int) (where string, inScope bool) {
	if !s.any.Load() {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.at {
		if k[0] == scope {
			inScope = true
		}
	}
	return s.at[[2]int{scope, idx}], inScope
}

// where names a subject in messages.
func where(f *collectors.Facts, s Subject) string {
	switch {
	case s.Cluster < 0:
		return "the fleet"
	case s.Member < 0:
		return "cluster " + f.Clusters[s.Cluster].Name
	}
	return fmt.Sprintf("member %s of cluster %s", f.Clusters[s.Cluster].Members[s.Member].Label(), f.Clusters[s.Cluster].Name)
}

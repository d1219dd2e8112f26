package policies

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/internal/yamlsafe"
	"github.com/etcdaudit/etcdaudit/results"
)

// Waivers are accepted failures: a control on the clusters and members
// matching globs, with a justification, until an expiry date.
//
// File format (YAML):
//
//	waivers:
//	  - control: ETCD-V2-002          # a control id (required)
//	    cluster: "prod-*"             # glob, default "*"
//	    member: "*"                   # glob, default "*"
//	    justification: "v2 clients until the Q3 migration (TICKET-12)"  # required
//	    expires: 2026-12-31           # date (UTC) or RFC 3339 time; absent = never
//
// A waiver applies before its expiry and no longer from it on: a result it
// would have covered keeps its status and says when the waiver expired.
type Waivers struct {
	Source string
	List   []results.Waiver
}

type waiverEntry struct {
	Control       string `yaml:"control"`
	Cluster       string `yaml:"cluster"`
	Member        string `yaml:"member"`
	Justification string `yaml:"justification"`
	Expires       string `yaml:"expires"`
}

// LoadWaivers is LoadWaiversContext that cannot be cancelled (it cannot
// block either: see LoadWaiversContext).
func LoadWaivers(file string) (*Waivers, error) {
	return LoadWaiversContext(context.Background(), file)
}

// LoadWaiversContext reads and validates a waivers file. Every problem is
// reported with its line; one bad entry stops the run, since a silently
// dropped waiver changes an auditor's result. The file must be a regular
// file (see internal/inputfile) within internal/yamlsafe's limits; reading
// stops when ctx is done.
func LoadWaiversContext(ctx context.Context, file string) (*Waivers, error) {
	src, err := inputfile.Read(ctx, file, yamlsafe.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("waivers: %w", err)
	}
	return ParseWaivers(file, src)
}

// ParseWaivers parses waivers from src; file names the source in messages.
func ParseWaivers(file string, src []byte) (*Waivers, error) {
	w := &Waivers{Source: file}
	docs, err := yamlsafe.Parse(file, src)
	var le *yamlsafe.LimitError
	switch {
	case errors.As(err, &le):
		return nil, fmt.Errorf("waivers %w", err)
	case err != nil:
		return nil, fmt.Errorf("waivers %s: %w", file, err)
	case len(docs) > 1:
		// A second document's waivers would be silently dropped.
		return nil, fmt.Errorf("waivers %s:%d: a second YAML document: put every waiver in one `waivers:` list", file, docs[1].Line)
	case len(docs) == 0 || len(docs[0].Content) == 0:
		return w, nil
	}
	root := docs[0].Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		var first *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if k.Value != "waivers" {
				return nil, fmt.Errorf("waivers %s:%d: unknown key %q (want `waivers:`)", file, k.Line, k.Value)
			}
			if first != nil {
				// YAML lets the last key win: the first list would be dropped.
				return nil, fmt.Errorf("waivers %s:%d: a second `waivers:` key (the first is at %s:%d): put every waiver in one list", file, k.Line, file, first.Line)
			}
			first, list = k, root.Content[i+1]
		}
		if list == nil {
			return nil, fmt.Errorf("waivers %s:%d: no `waivers:` list", file, root.Line)
		}
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return w, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("waivers %s:%d: want a list of waivers, got %s", file, list.Line, kindName(list))
	}
	var errs []string
	for _, n := range list.Content {
		var e waiverEntry
		if n.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Sprintf("%s:%d: want a waiver (a mapping), got %s", file, n.Line, kindName(n)))
			continue
		}
		if bad := unknownKeys(n, "control", "cluster", "member", "justification", "expires"); bad != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: unknown waiver field %q (known: control, cluster, member, justification, expires)", file, bad.Line, bad.Value))
			continue
		}
		if err := n.Decode(&e); err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %v", file, n.Line, err))
			continue
		}
		rw := results.Waiver{
			Control:       strings.TrimSpace(e.Control),
			Cluster:       orDefault(strings.TrimSpace(e.Cluster), "*"),
			Member:        orDefault(strings.TrimSpace(e.Member), "*"),
			Justification: strings.TrimSpace(e.Justification),
			Source:        fmt.Sprintf("%s:%d", file, n.Line),
		}
		var probs []string
		if rw.Control == "" {
			probs = append(probs, "control is required")
		}
		if rw.Justification == "" {
			probs = append(probs, "justification is required")
		}
		for _, g := range []struct{ name, glob string }{{"cluster", rw.Cluster}, {"member", rw.Member}} {
			if _, err := path.Match(g.glob, ""); err != nil {
				probs = append(probs, fmt.Sprintf("%s glob %q: %v", g.name, g.glob, err))
			}
		}
		if e.Expires != "" {
			t, err := parseExpiry(e.Expires)
			if err != nil {
				probs = append(probs, err.Error())
			} else {
				rw.Expires = &t
			}
		}
		if len(probs) > 0 {
			errs = append(errs, fmt.Sprintf("%s: %s", rw.Source, strings.Join(probs, "; ")))
			continue
		}
		w.List = append(w.List, rw)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("waivers:\n  %s", strings.Join(errs, "\n  "))
	}
	return w, nil
}

func unknownKeys(n *yaml.Node, known ...string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, x := range known {
			ok = ok || k.Value == x
		}
		if !ok {
			return k
		}
	}
	return nil
}

// parseExpiry accepts a date (expiring at 00:00 UTC that day) or an RFC 3339
// time.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expires %q: want a date (2026-12-31) or an RFC 3339 time", s)
}

// Check reports waivers naming a control no loaded policy defines.
func (w *Waivers) Check(controls []results.Control) error {
	if w == nil {
		return nil
	}
	known := map[string]bool{}
	for _, c := range controls {
		known[c.ID] = true
	}
	var errs []string
	for _, x := range w.List {
		if !known[x.Control] {
			errs = append(errs, fmt.Sprintf("%s: waiver for unknown control %q", x.Source, x.Control))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("waivers:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// Apply turns failed results covered by a live waiver into waived. A result
// only an expired waiver covers stays failed and carries that waiver with a
// message saying when it expired. Errors and skips are never waived: a fact
// that could not be judged is not an accepted risk.
func (w *Waivers) Apply(rs []results.Result, now time.Time) {
	if w == nil {
		return
	}
	for i := range rs {
		r := &rs[i]
		if r.Status != results.Failed {
			continue
		}
		var expired *results.Waiver
		for j := range w.List {
			x := &w.List[j]
			if !waiverMatches(x, r) {
				continue
			}
			if x.Expires != nil && !now.Before(*x.Expires) {
				if expired == nil {
					expired = x
				}
				continue
			}
			cp := *x
			r.Status, r.Waiver, r.ExpiredWaiver = results.Waived, &cp, nil
			break
		}
		if r.Status == results.Failed && expired != nil {
			cp := *expired
			r.ExpiredWaiver = &cp
			r.Messages = append(r.Messages, fmt.Sprintf("waiver %s expired on %s and no longer applies (justification was: %s)",
				expired.Source, expired.Expires.UTC().Format(time.DateOnly), expired.Justification))
		}
	}
}

// waiverMatches: same control, cluster and member globs match (globs were
// validated at load, so a Match error cannot happen here).
func waiverMatches(x *results.Waiver, r *results.Result) bool {
	if x.Control != r.Control {
		return false
	}
	okC, _ := path.Match(x.Cluster, r.Cluster)
	okM, _ := path.Match(x.Member, r.Member)
	return okC && okM
}

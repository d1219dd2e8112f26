package policies

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/results"
)

// control is a compiled control: its public metadata plus what the engine
// needs to evaluate and judge it.
type control struct {
	results.Control
	ref     ast.Ref  // package path, e.g. data.etcdaudit.controls.versions.known_bad
	needs   []string // facts whose absence turns a non-failing result into error
	hasDeny bool     // the package defines deny (else the query uses set())
	hasSkip bool
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// memberFacts and clusterFacts are the names custom.needs may use, the JSON
// names of the facts in collectors.MemberFacts and collectors.ClusterFacts;
// "v2_count" is the v2 fact with its keys counted (or nothing to count).
// A cluster control may also need "members.<member fact>": at least one
// member has it.
var (
	memberFacts  = []string{"version", "status", "health", "alarms", "member_list", "v2", "v2_count", "v3", "backend", "security"}
	clusterFacts = []string{"consistency", "hashkv", "event_leases"}
)

// extractControls reads METADATA annotations of every package under
// etcdaudit.controls, returning the controls sorted by id and every problem.
func extractControls(mods map[string]*ast.Module) ([]*control, []Problem) {
	type pkgInfo struct {
		ref     ast.Ref
		files   []string
		ann     []*ast.Annotations
		hasRule bool
		rules   map[string]bool
		loc     *ast.Location
	}
	root := ast.MustParseRef(ControlsRoot)
	pkgs := map[string]*pkgInfo{}
	var probs []Problem
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m := mods[name]
		if !m.Package.Path.HasPrefix(root) || len(m.Package.Path) == len(root) || strings.HasSuffix(name, "_test.rego") {
			continue
		}
		key := m.Package.Path.String()
		pi := pkgs[key]
		if pi == nil {
			pi = &pkgInfo{ref: m.Package.Path, loc: m.Package.Location, rules: map[string]bool{}}
			pkgs[key] = pi
		}
		pi.files = append(pi.files, name)
		for _, a := range m.Annotations {
			if a.Scope == "package" {
				pi.ann = append(pi.ann, a)
			}
		}
		for _, r := range m.Rules {
			name := r.Head.Name.String()
			if len(r.Head.Reference) > 0 {
				name = r.Head.Reference[0].Value.(ast.Var).String()
			}
			if name == "deny" || name == "skip" {
				pi.hasRule = true
				pi.rules[name] = true
			}
		}
	}
	keys := make([]string, 0, len(pkgs))
	for k := range pkgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*control
	for _, k := range keys {
		pi := pkgs[k]
		pkgName := strings.TrimPrefix(k, "data.")
		if len(pi.ann) == 0 {
			probs = append(probs, locProblem(pi.loc, pi.files[0], fmt.Sprintf("package %s: control without METADATA (custom.id, title, custom.impact, custom.scope are required)", pkgName)))
			continue
		}
		if len(pi.ann) > 1 {
			probs = append(probs, locProblem(pi.ann[1].Location, pi.files[0], fmt.Sprintf("package %s: METADATA given more than once (first at %s)", pkgName, pi.ann[0].Location)))
		}
		c, ps := controlFromAnnotation(pi.ann[0], pkgName, pi.files[0])
		probs = append(probs, ps...)
		if !pi.hasRule {
			probs = append(probs, locProblem(pi.loc, pi.files[0], fmt.Sprintf("package %s: control %s defines no deny (or skip) rule, so it could never fail", pkgName, c.ID)))
		}
		if c.ID == "" || len(ps) > 0 {
			continue
		}
		c.ref = pi.ref
		c.hasDeny, c.hasSkip = pi.rules["deny"], pi.rules["skip"]
		out = append(out, c)
	}
	// Duplicate ids: every place is named.
	byID := map[string][]*control{}
	for _, c := range out {
		byID[c.ID] = append(byID[c.ID], c)
	}
	var uniq []*control
	for _, c := range out {
		dups := byID[c.ID]
		if len(dups) > 1 {
			if dups[0] == c {
				var where []string
				for _, d := range dups {
					where = append(where, fmt.Sprintf("%s (%s)", d.Package, d.Source))
				}
				probs = append(probs, Problem{File: strings.SplitN(c.Source, ":", 2)[0], Line: lineOf(c.Source), Message: fmt.Sprintf("control id %s used by %d packages: %s", c.ID, len(dups), strings.Join(where, ", "))})
			}
			continue
		}
		uniq = append(uniq, c)
	}
	sort.Slice(uniq, func(i, j int) bool { return uniq[i].ID < uniq[j].ID })
	return uniq, probs
}

func lineOf(src string) int {
	var l int
	if i := strings.LastIndexByte(src, ':'); i >= 0 {
		fmt.Sscanf(src[i+1:], "%d", &l)
	}
	return l
}

// controlFromAnnotation validates one package annotation.
func controlFromAnnotation(a *ast.Annotations, pkg, file string) (*control, []Problem) {
	c := &control{}
	c.Package = pkg
	line := 0
	if a.Location != nil {
		line = a.Location.Row
		if a.Location.File != "" {
			file = a.Location.File
		}
	}
	c.Source = fmt.Sprintf("%s:%d", file, line)
	var probs []Problem
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{File: file, Line: line, Message: fmt.Sprintf("package %s: ", pkg) + fmt.Sprintf(format, args...)})
	}
	custom := a.Custom
	id, _ := custom["id"].(string)
	switch {
	case custom["id"] == nil:
		bad("control without an id (METADATA custom.id)")
	case id == "" || !idPattern.MatchString(id):
		bad("custom.id %v: want a non-empty id of letters, digits, '-', '_' or '.'", custom["id"])
	}
	c.ID = id
	c.Title = a.Title
	if strings.TrimSpace(c.Title) == "" {
		bad("control %s has no title", id)
	}
	c.Description = strings.TrimSpace(a.Description)
	switch v := custom["impact"].(type) {
	case nil:
		bad("control %s has no custom.impact (0.0–1.0)", id)
	default:
		f, ok := toFloat(v)
		if !ok {
			bad("control %s: custom.impact %v is not a number", id, v)
		} else if f < 0 || f > 1 {
			bad("control %s: custom.impact %v outside 0.0–1.0", id, f)
		}
		c.Impact = f
	}
	scope, _ := custom["scope"].(string)
	switch results.Scope(scope) {
	case results.ScopeMember, results.ScopeCluster, results.ScopeFleet:
		c.Scope = results.Scope(scope)
	default:
		bad("control %s: custom.scope %v: want member, cluster or fleet", id, custom["scope"])
	}
	var ok bool
	if c.Tags, ok = stringList(custom["tags"]); !ok {
		bad("control %s: custom.tags must be a list of strings", id)
	}
	if c.Refs, ok = stringList(custom["refs"]); !ok {
		bad("control %s: custom.refs must be a list of strings", id)
	}
	if r, present := custom["remediation"]; present {
		s, isStr := r.(string)
		if !isStr {
			bad("control %s: custom.remediation must be a string (an action name, or none)", id)
		}
		if s != "none" {
			c.Remediation = s
		}
	}
	if c.needs, ok = stringList(custom["needs"]); !ok {
		bad("control %s: custom.needs must be a list of fact names", id)
	}
	for _, n := range c.needs {
		if !validNeed(c.Scope, n) {
			bad("control %s: custom.needs: unknown fact %q for scope %s (member facts: %s; cluster facts: %s, members.<member fact>; fleet: clusters.<member fact>)",
				id, n, scope, strings.Join(memberFacts, ", "), strings.Join(clusterFacts, ", "))
		}
	}
	for k := range custom {
		switch k {
		case "id", "impact", "scope", "tags", "refs", "remediation", "needs":
		default:
			bad("control %s: unknown custom.%s (known: id, impact, scope, tags, refs, remediation, needs)", id, k)
		}
	}
	return c, probs
}

func validNeed(scope results.Scope, n string) bool {
	switch scope {
	case results.ScopeMember:
		return slices.Contains(memberFacts, n)
	case results.ScopeCluster:
		if m, ok := strings.CutPrefix(n, "members."); ok {
			return slices.Contains(memberFacts, m)
		}
		return slices.Contains(clusterFacts, n)
	case results.ScopeFleet:
		if m, ok := strings.CutPrefix(n, "clusters."); ok {
			return slices.Contains(memberFacts, m)
		}
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

package regoeval

import (
	"fmt"
	"slices"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
)

// MalformedError is a control whose verdict is not a [deny, skip] pair.
type MalformedError struct{ Value any }

func (e MalformedError) Error() string { return fmt.Sprintf("malformed verdict %v", e.Value) }

func verdictList(t *ast.Term, n int) ([]Verdict, error) {
	if t == nil {
		return nil, fmt.Errorf("query returned 0 results, want 1")
	}
	arr, _ := t.Value.(*ast.Array)
	if arr == nil || arr.Len() != n {
		j := jsonOf(t)
		l, _ := j.([]any)
		return nil, fmt.Errorf("query returned %T of %d verdicts, want %d", j, len(l), n)
	}
	out := make([]Verdict, n)
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

// decodeVerdict decodes one control's [deny, skip] pair. A pair that is
// not all strings is first converted the way the rego package converts
// results, so a value JSON cannot hold is reported as that error.
func decodeVerdict(t *ast.Term) Verdict {
	deny, skip, err := decodePair(t)
	if err != nil {
		if _, jerr := ast.JSON(t.Value); jerr != nil {
			return Verdict{Err: jerr, jsonErr: true}
		}
		return Verdict{Err: err}
	}
	return Verdict{Deny: deny, Skip: skip}
}

func decodePair(t *ast.Term) (deny, skip []string, err error) {
	pair, ok := t.Value.(*ast.Array)
	if !ok || pair.Len() != 2 {
		return nil, nil, MalformedError{jsonOf(t)}
	}
	if deny, err = messages(pair.Elem(0)); err != nil {
		return nil, nil, err
	}
	if skip, err = messages(pair.Elem(1)); err != nil {
		return nil, nil, err
	}
	return deny, skip, nil
}

// messages decodes a deny or skip collection (a set, or an array from a
// complete rule): each entry must be a string. Errors name the types the
// way encoding/json decodes them, as a policy author sees them.
func messages(t *ast.Term) ([]string, error) {
	var out []string
	var bad *ast.Term
	switch v := t.Value.(type) {
	case ast.Set:
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

package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with an inventory, located precisely enough to
// jump to it from an editor or a CI log.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"` // e.g. clusters[1].tls.ca
	Message string `json:"message"`
}

// String is "file:line:col: field: message", the format compilers use.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	switch {
	case p.Line > 0 && p.Column > 0:
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	case p.Line > 0:
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem of an inventory at once, so an
// operator fixes the file in one pass rather than one error per run.
type ValidationError struct {
	File     string    `json:"file"`
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: 1 problem:", e.File)
	} else {
		fmt.Fprintf(&b, "%s: %d problems:", e.File, len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *ValidationError) sort() {
	sort.SliceStable(e.Problems, func(i, j int) bool {
		a, b := e.Problems[i], e.Problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// suggest returns the candidate closest to got when it is close enough to
// be a typo ("did you mean"), or "".
func suggest(got string, candidates []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestD := "", 3
	for _, c := range candidates {
		if norm(c) == norm(got) {
			return c
		}
		d := editDistance(norm(got), norm(c))
		if d < bestD && d <= len(c)/2 {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: Levenshtein plus
// transpositions, the commonest typo ("endpiont").
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99 // not a typo of a field name; also bounds the cost
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

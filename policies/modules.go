package policies

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
)

//go:embed pack/*.rego
var builtinPack embed.FS

// ControlsRoot is the package prefix every control lives under; packages
// elsewhere (helpers, data) are compiled but are not controls.
const ControlsRoot = "data.etcdaudit.controls"

// source is one Rego file to compile.
type source struct {
	name string // file path as shown in messages
	text string
	test bool // a *_test.rego file
}

// loadSources reads the bundled pack (only its libraries when noBuiltin)
// and every *.rego under dirs. withTests adds the *_test.rego files (policy test).
func loadSources(dirs []string, noBuiltin, withTests bool) ([]source, error) {
	var out []source
	{
		// --no-builtin drops the bundled controls but keeps the helper
		// libraries (lib_*.rego), so user controls can still use them.
		err := fs.WalkDir(builtinPack, "pack", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
				return err
			}
			if noBuiltin && !strings.HasPrefix(path.Base(p), "lib_") {
				return nil
			}
			test := strings.HasSuffix(p, "_test.rego")
			if test && !withTests {
				return nil
			}
			b, err := builtinPack.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, source{name: "policies/" + p, text: string(b), test: test})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read bundled pack: %w", err)
		}
	}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("policy dir: %w", err)
		}
		if !st.IsDir() {
			if !strings.HasSuffix(dir, ".rego") {
				return nil, fmt.Errorf("policy dir %s: not a directory or a .rego file", dir)
			}
			b, err := inputfile.Read(context.Background(), dir, inputfile.Config)
			if err != nil {
				return nil, fmt.Errorf("policy file: %w", err)
			}
			test := strings.HasSuffix(dir, "_test.rego")
			if !test || withTests {
				out = append(out, source{name: dir, text: string(b), test: test})
			}
			continue
		}
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != dir && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".rego") {
				return nil
			}
			test := strings.HasSuffix(p, "_test.rego")
			if test && !withTests {
				return nil
			}
			b, err := inputfile.Read(context.Background(), p, inputfile.Config)
			if err != nil {
				return err
			}
			out = append(out, source{name: p, text: string(b), test: test})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("policy dir %s: %w", dir, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// Problem is one thing wrong with the policies, located at file:line.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// ProblemsError lists every problem found, not just the first, so one
// `policy check` run shows everything to fix.
type ProblemsError struct{ Problems []Problem }

func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d policy problem(s):\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

func locProblem(loc *ast.Location, fallback, msg string) Problem {
	if loc == nil {
		return Problem{File: fallback, Message: msg}
	}
	f := loc.File
	if f == "" {
		f = fallback
	}
	return Problem{File: f, Line: loc.Row, Message: msg}
}

// parseSources parses every file with annotations on, collecting all parse
// errors.
func parseSources(srcs []source) (map[string]*ast.Module, []Problem) {
	mods := make(map[string]*ast.Module, len(srcs))
	var probs []Problem
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, s.text, ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			probs = append(probs, astProblems(err, s.name)...)
			continue
		}
		if m == nil {
			probs = append(probs, Problem{File: s.name, Message: "empty policy file (no package)"})
			continue
		}
		mods[s.name] = m
	}
	return mods, probs
}

func astProblems(err error, file string) []Problem {
	var errs ast.Errors
	if errors.As(err, &errs) {
		out := make([]Problem, 0, len(errs))
		for _, e := range errs {
			out = append(out, locProblem(e.Location, file, e.Message))
		}
		return out
	}
	var e *ast.Error
	if errors.As(err, &e) {
		return []Problem{locProblem(e.Location, file, e.Message)}
	}
	return []Problem{{File: file, Message: err.Error()}}
}

// compile compiles parsed modules once, in the sandbox (see sandbox.go);
// the compiler is shared by every prepared query.
func compile(mods map[string]*ast.Module, allowNet bool) (*ast.Compiler, []Problem) {
	c := newCompiler(allowNet)
	c.Compile(mods)
	if c.Failed() {
		var probs []Problem
		for _, e := range c.Errors {
			probs = append(probs, explainSandbox(locProblem(e.Location, "", e.Message)))
		}
		return nil, probs
	}
	return c, nil
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

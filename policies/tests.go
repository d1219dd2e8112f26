package policies

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is one Rego test's outcome.
type TestResult struct {
	Name     string        `json:"name"` // package.rule
	Location string        `json:"location"`
	Passed   bool          `json:"passed"`
	Skipped  bool          `json:"skipped,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// RunTests runs every test_* rule of the *_test.rego files (bundled unless
// cfg.NoBuiltin, and under cfg.PolicyDirs) the way `opa test` does, against
// the same data the engine uses (cfg.DataFiles merged over the bundled
// data), in the same sandbox (cfg.AllowNetBuiltins). filter is a regular
// expression on test names; empty runs all.
func RunTests(ctx context.Context, cfg Config, filter string) ([]TestResult, error) {
	srcs, err := loadSources(cfg.PolicyDirs, cfg.NoBuiltin, true)
	if err != nil {
		return nil, err
	}
	mods, probs := parseSources(srcs)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ProblemsError{Problems: probs}
	}
	data, err := LoadData(cfg.DataFiles)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"etcdaudit": data}, inmem.OptRoundTripOnWrite(false))
	ch, err := tester.NewRunner().
		SetStore(store).
		SetCompiler(newCompiler(cfg.AllowNetBuiltins).WithEnablePrintStatements(true)).
		SetModules(mods).
		Filter(filter).
		SetTimeout(30*time.Second).
		RunTests(ctx, nil)
	if err != nil {
		probs := astProblems(err, "")
		for i := range probs {
			probs[i] = explainSandbox(probs[i])
		}
		return nil, &ProblemsError{Problems: probs}
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Name: r.Package + "." + r.Name, Passed: r.Pass(), Skipped: r.Skip, Duration: r.Duration}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		if r.Error != nil {
			tr.Error = r.Error.Error()
			tr.Passed = false
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out, nil
}

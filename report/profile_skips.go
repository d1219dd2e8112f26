package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/results"
)

// profileSkips is the one summary line every human-read format prints when
// controls were skipped because the run left out the collectors of their
// facts (results.Result.NotCollected), naming them and the --profile that
// collects them; "" when no control was skipped for that reason. A skip a
// different profile cannot cure (an unsupported API, a server that cannot
// say) is not counted.
func profileSkips(r *results.Report) string {
	var ids, names []string
	for _, res := range r.Results {
		if res.Status != results.Skipped || res.NotCollected == "" {
			continue
		}
		if !slices.Contains(ids, res.Control) {
			ids = append(ids, res.Control)
		}
		if !slices.Contains(names, res.NotCollected) {
			names = append(names, res.NotCollected)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	slices.Sort(ids)
	slices.Sort(names)
	// The cheapest profile that runs every missing collector; a collector
	// this build does not know (a report from another version) asks for full.
	reg := collectors.NewRegistry()
	want := 0
	for _, n := range names {
		p := cmp.Or(reg.ProfileFor(n), collectors.ProfileFull)
		want = max(want, slices.Index(collectors.Profiles, p))
	}
	hint := collectors.Profiles[want]
	n, facts := fmt.Sprintf("%d controls", len(ids)), "their facts"
	if len(ids) == 1 {
		n, facts = "1 control", "its facts"
	}
	var profile string
	if r.Facts != nil {
		profile = r.Facts.Profile
	}
	list := strings.Join(ids, ", ")
	if slices.Contains(collectors.Profiles, profile) {
		return fmt.Sprintf("%s skipped because profile %s did not collect %s (%s): run with --profile %s", n, profile, facts, list, hint)
	}
	return fmt.Sprintf("%s skipped because the run left out collector %s (%s): run with --profile %s and no --collectors/--exclude leaving it out",
		n, strings.Join(names, ", "), list, hint)
}

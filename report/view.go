package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/results"
)

// view is a read-only index over a report that the human-facing reporters
// share: results grouped fleet → cluster → member, controls by ID, and the
// facts of each cluster and member when the report carries them. It copies
// slices it sorts, so building it never reorders the caller's report.
type view struct {
	r        *results.Report
	controls map[string]results.Control
	// order is every control in report order, then controls that only appear
	// in results (a policy the metadata did not describe), by ID.
	order    []results.Control
	fleet    []results.Result
	clusters []clusterView
	summary  results.Summary
}

type clusterView struct {
	Name    string
	Facts   *collectors.ClusterFacts
	Results []results.Result // cluster-scoped (no member)
	Members []memberView
	Counts  results.Counts
}

type memberView struct {
	Name    string
	Facts   *collectors.MemberFacts
	Results []results.Result
	Counts  results.Counts
}

func newView(r *results.Report) *view {
	v := &view{r: r, controls: map[string]results.Control{}, summary: summaryOf(r)}
	for _, c := range r.Controls {
		if _, dup := v.controls[c.ID]; dup {
			continue
		}
		v.controls[c.ID] = c
		v.order = append(v.order, c)
	}
	var extra []results.Control
	byCluster := map[string]*clusterView{}
	cluster := func(name string) *clusterView {
		if c, ok := byCluster[name]; ok {
			return c
		}
		c := &clusterView{Name: name}
		byCluster[name] = c
		return c
	}
	if r.Facts != nil {
		for i := range r.Facts.Clusters {
			cf := &r.Facts.Clusters[i]
			c := cluster(cf.Name)
			if c.Facts == nil {
				c.Facts = cf
			}
		}
	}
	members := map[[2]string]*memberView{}
	for _, res := range r.Results {
		if _, ok := v.controls[res.Control]; !ok {
			c := results.Control{ID: res.Control, Title: res.Control}
			v.controls[res.Control] = c
			extra = append(extra, c)
		}
		if res.Cluster == "" {
			v.fleet = append(v.fleet, res)
			continue
		}
		c := cluster(res.Cluster)
		c.Counts.Add(res.Status)
		if res.Member == "" {
			c.Results = append(c.Results, res)
			continue
		}
		k := [2]string{res.Cluster, res.Member}
		m, ok := members[k]
		if !ok {
			m = &memberView{Name: res.Member}
			members[k] = m
		}
		m.Results = append(m.Results, res)
		m.Counts.Add(res.Status)
	}
	slices.SortFunc(extra, func(a, b results.Control) int { return cmp.Compare(a.ID, b.ID) })
	v.order = append(v.order, extra...)

	// Members known from facts appear even when no control judged them, so
	// the drill-down shows every member the scan saw.
	for _, c := range byCluster {
		if c.Facts == nil {
			continue
		}
		for i := range c.Facts.Members {
			mf := &c.Facts.Members[i]
			k := [2]string{c.Name, memberKey(mf)}
			m, ok := members[k]
			if !ok {
				m = &memberView{Name: k[1]}
				members[k] = m
			}
			if m.Facts == nil {
				m.Facts = mf
			}
		}
	}
	for k, m := range members {
		c := byCluster[k[0]]
		sortResults(m.Results)
		c.Members = append(c.Members, *m)
	}
	for _, c := range byCluster {
		slices.SortFunc(c.Members, func(a, b memberView) int { return cmp.Compare(a.Name, b.Name) })
		sortResults(c.Results)
		v.clusters = append(v.clusters, *c)
	}
	slices.SortFunc(v.clusters, func(a, b clusterView) int { return cmp.Compare(a.Name, b.Name) })
	sortResults(v.fleet)
	return v
}

// memberKey is how results name a member: by name, or by endpoint for a
// member that never told its name.
func memberKey(m *collectors.MemberFacts) string {
	if m.Name != "" {
		return m.Name
	}
	return m.Endpoint
}

// sortResults orders by control ID; the caller's slice is a copy made while
// grouping, so the report's own order is untouched.
func sortResults(rs []results.Result) {
	slices.SortStableFunc(rs, func(a, b results.Result) int { return cmp.Compare(a.Control, b.Control) })
}

func (v *view) title(id string) string {
	if c, ok := v.controls[id]; ok && c.Title != "" {
		return c.Title
	}
	return id
}

// summaryOf trusts the report's summary when it matches the results, and
// recomputes it otherwise (a hand-edited or truncated JSON file), so every
// format shows counts that agree with the results it lists.
func summaryOf(r *results.Report) results.Summary {
	s := r.Summary
	if s.Overall.Total == len(r.Results) && s.PerCluster != nil && s.PerControl != nil {
		return s
	}
	return results.Summarize(r.Results)
}

func duration(r *results.Report) time.Duration {
	if r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// worst returns the most severe status of rs, and false when rs is empty.
func worst(rs []results.Result) (results.Status, bool) {
	if len(rs) == 0 {
		return "", false
	}
	w := rs[0].Status
	for _, r := range rs[1:] {
		if r.Status.Severity() > w.Severity() {
			w = r.Status
		}
	}
	return w, true
}

// versionCount is one bar of the fleet's version spread.
type versionCount struct {
	Version string
	Members int
}

// versionSpread counts members per server version; members whose version
// could not be read count as "unknown", so the chart never hides them.
func versionSpread(f *collectors.Facts) []versionCount {
	if f == nil {
		return nil
	}
	n := map[string]int{}
	for _, c := range f.Clusters {
		for _, m := range c.Members {
			ver := "unknown"
			if m.Version != nil && m.Version.Server != "" {
				ver = m.Version.Server
			}
			n[ver]++
		}
	}
	out := make([]versionCount, 0, len(n))
	for ver, c := range n {
		out = append(out, versionCount{ver, c})
	}
	slices.SortFunc(out, func(a, b versionCount) int { return etcdversion.Compare(a.Version, b.Version) })
	return out
}

// label returns a cluster label from its facts ("" when unknown).
func (c clusterView) label(k string) string {
	if c.Facts == nil {
		return ""
	}
	return c.Facts.Labels[k]
}

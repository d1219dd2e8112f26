package remediate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// FactsSummary is what a plan was made from: the facts that change what the
// plan would say (versions, membership, leader, v2 contents, whether v3 holds
// data). Raft indexes, revisions, db sizes and the exact v2 and v3 key
// counts move on every write and are left out of the fingerprint, so a busy
// but unchanged Kubernetes cluster does not make its plan stale: API servers
// still writing to the etcd2 backend until the plan's stop_writers step is
// the normal case. Whether v2 holds keys (and keys with a TTL) stays in,
// since that decides whether the data steps come before a hop to 3.6; the
// migration copies what v2 holds once the writers are stopped, not what it
// held when the plan was made. The summary keeps the counts, for people.
type FactsSummary struct {
	Cluster        string          `json:"cluster"`
	Leader         string          `json:"leader"` // member name, "" when unknown
	ClusterVersion string          `json:"cluster_version"`
	Members        []MemberSummary `json:"members"`
}

// MemberSummary is one member in a FactsSummary.
type MemberSummary struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	ClientURL string `json:"client_url"`
	Version   string `json:"version"` // "" when unreachable
	Storage   string `json:"storage_version,omitempty"`
	Learner   bool   `json:"learner,omitempty"`
	V2Enabled bool   `json:"v2_enabled"`
	// V2Keys is -1 when the v2 store was not counted.
	V2Keys    int64 `json:"v2_keys"`
	V2TTLKeys int64 `json:"v2_ttl_keys"`
	// V3Data is "none", "some" or "uncounted": an empty v3 keyspace matters
	// (a v2-only data dir must write v3 data before 3.2), its size does not.
	V3Data string `json:"v3_data"`
}

// Summarize reduces a cluster's facts to its FactsSummary.
func Summarize(c *collectors.ClusterFacts) FactsSummary {
	s := FactsSummary{Cluster: c.Name}
	ids := map[string]string{}
	for i := range c.Members {
		m := &c.Members[i]
		ms := MemberSummary{Name: m.Label(), ID: m.ID, Learner: m.IsLearner, V2Keys: -1, V3Data: "uncounted"}
		ids[m.ID] = ms.Name
		if len(m.ClientURLs) > 0 {
			ms.ClientURL = m.ClientURLs[0]
		} else {
			ms.ClientURL = m.Endpoint
		}
		if m.Version != nil {
			ms.Version, ms.Storage = m.Version.Server, m.Version.Storage
			if s.ClusterVersion == "" {
				s.ClusterVersion = m.Version.Cluster
			}
		}
		if m.V2 != nil {
			ms.V2Enabled = m.V2.Enabled
			if m.V2.Counted || !m.V2.Enabled {
				ms.V2Keys, ms.V2TTLKeys = m.V2.Keys, m.V2.TTLKeys
			}
		}
		if m.V3 != nil {
			ms.V3Data = "none"
			if m.V3.Keys > 0 {
				ms.V3Data = "some"
			}
		}
		s.Members = append(s.Members, ms)
	}
	sort.Slice(s.Members, func(i, j int) bool { return s.Members[i].Name < s.Members[j].Name })
	for i := range c.Members {
		if st := c.Members[i].Status; st != nil && st.Leader != "" && st.Leader != "0" {
			if name, ok := ids[st.Leader]; ok {
				s.Leader = name
				break
			}
		}
	}
	return s
}

// Fingerprint is the sha256 of the JSON of the summary's stable form: v2
// key counts reduced to uncounted (-1), none (0) or some (1).
func (s FactsSummary) Fingerprint() string {
	st := s
	st.Members = make([]MemberSummary, len(s.Members))
	for i, m := range s.Members {
		st.Members[i] = m.stable()
	}
	b, _ := json.Marshal(st) // plain structs: cannot fail
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Diff names what changed between a plan's summary and the live one, one
// line per difference; empty when they match.
func (s FactsSummary) Diff(live FactsSummary) []string {
	var out []string
	if s.Leader != live.Leader {
		out = append(out, fmt.Sprintf("leader %s -> %s", orNone(s.Leader), orNone(live.Leader)))
	}
	if s.ClusterVersion != live.ClusterVersion {
		out = append(out, fmt.Sprintf("cluster version %s -> %s", orNone(s.ClusterVersion), orNone(live.ClusterVersion)))
	}
	was := map[string]MemberSummary{}
	for _, m := range s.Members {
		was[m.Name] = m
	}
	for _, m := range live.Members {
		p, ok := was[m.Name]
		if !ok {
			out = append(out, fmt.Sprintf("member %s added", m.Name))
			continue
		}
		delete(was, m.Name)
		if p.stable() != m.stable() {
			out = append(out, fmt.Sprintf("member %s: %s", m.Name, memberDiff(p, m)))
		}
	}
	for _, m := range s.Members {
		if _, gone := was[m.Name]; gone {
			out = append(out, fmt.Sprintf("member %s removed", m.Name))
		}
	}
	return out
}

func memberDiff(a, b MemberSummary) string {
	var d []string
	add := func(what string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %v -> %v", what, x, y))
		}
	}
	add("id", a.ID, b.ID)
	add("client url", a.ClientURL, b.ClientURL)
	add("version", orNone(a.Version), orNone(b.Version))
	add("storage version", orNone(a.Storage), orNone(b.Storage))
	add("learner", a.Learner, b.Learner)
	add("v2 enabled", a.V2Enabled, b.V2Enabled)
	add("v2 keys", v2Amount(a.V2Keys), v2Amount(b.V2Keys))
	add("v2 ttl keys", v2Amount(a.V2TTLKeys), v2Amount(b.V2TTLKeys))
	add("v3 data", a.V3Data, b.V3Data)
	return strings.Join(d, ", ")
}

// stable is m with its v2 counts reduced to -1, 0 or 1.
func (m MemberSummary) stable() MemberSummary {
	sign := func(n int64) int64 { return min(max(n, -1), 1) }
	m.V2Keys, m.V2TTLKeys = sign(m.V2Keys), sign(m.V2TTLKeys)
	return m
}

func v2Amount(n int64) string {
	switch {
	case n < 0:
		return "uncounted"
	case n == 0:
		return "none"
	}
	return "some"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

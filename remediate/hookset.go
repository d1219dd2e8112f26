package remediate

import (
	"net/url"

	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

// runnerHooks backs a HookSet with the inventory's hooks.
type runnerHooks struct{ r *hooks.Runner }

// InventoryHooks returns the HookSet of a cluster's hook runner.
func InventoryHooks(r *hooks.Runner) HookSet { return runnerHooks{r} }

func (h runnerHooks) Has(name string) bool { return h.r.Has(name) }

func (h runnerHooks) Render(name, cluster string, s *Step) ([]string, error) {
	return h.r.Render(name, StepVars(cluster, "", s))
}

// StepVars are the hook values of a step: the same in the plan (RunID
// empty) and when apply runs it.
func StepVars(cluster, runID string, s *Step) hooks.Vars {
	v := hooks.Vars{
		Cluster: cluster, Member: s.Member, MemberID: s.MemberID,
		ClientURL: s.ClientURL, PeerURL: s.PeerURL,
		FromVersion: s.From, ToVersion: s.To,
		FlagsAdd: s.FlagsAdd, FlagsDrop: s.FlagsDrop,
		RunID: runID, Step: s.ID,
	}
	if s.Kind == KindSwitchBackend {
		v.Backend = "etcd3"
	}
	if u, err := url.Parse(s.ClientURL); err == nil {
		v.Host = u.Hostname()
	}
	return v
}

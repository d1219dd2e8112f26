package collectors

import (
	"context"
)

func backendCollector() Registration {
	return Registration{
		Name:      "backend",
		Scope:     ScopeMember,
		Help:      "the Kubernetes storage backend implied by where /registry lives: etcd2, etcd3, mixed or none",
		Collector: CollectorFunc(collectBackend),
	}
}

// collectBackend derives the backend from the v2 and v3 facts; it asks the
// member nothing. A missing input fact fails it (so the backend is missing
// too, never guessed) unless that input was left out of the run on purpose.
func collectBackend(_ context.Context, t *Target) error {
	m := t.Member.Facts
	if m.V2 == nil {
		return needFact(t, "v2", "v2", "v2_count")
	}
	if m.V3 == nil {
		return needFact(t, "v3", "v3")
	}
	v2 := m.V2.Enabled && m.V2.RegistryPresent
	v3 := m.V3.RegistryPresent
	b := BackendNone
	switch {
	case v2 && v3:
		b = BackendMixed
	case v2:
		b = BackendEtcd2
	case v3:
		b = BackendEtcd3
	}
	m.Backend = &BackendFacts{Observed: b}
	return nil
}

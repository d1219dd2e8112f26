package remediate

import (
	"encoding/json"
	"fmt"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

// UpgradeData is the part of data.etcdaudit the upgrade planner reads: the
// pack's upgrade path (policies/data/upgrade.yaml) and the baseline's target
// and landing versions (baseline.yaml), after any --data overrides.
type UpgradeData struct {
	Path        []string       `json:"path"`
	Hops        map[string]Hop `json:"hops"`
	V2Migration struct {
		Lines  []string `json:"lines"`
		Before string   `json:"before"`
	} `json:"v2_migration"`
	Target  string            `json:"-"`
	Minimum map[string]string `json:"-"`
}

// Hop is one minor-to-minor step of the path.
type Hop struct {
	To            string   `json:"to"`
	MinPatch      string   `json:"min_patch,omitempty"`
	Preconditions []string `json:"preconditions"`
	Source        string   `json:"source"`
}

// UpgradeDataFrom reads UpgradeData out of data.etcdaudit as
// policies.LoadData returns it, checking every version it holds.
func UpgradeDataFrom(data map[string]any) (*UpgradeData, error) {
	var d UpgradeData
	if err := reshape(data["upgrade"], &d); err != nil {
		return nil, fmt.Errorf("data.etcdaudit.upgrade: %w", err)
	}
	var base struct {
		Target  string            `json:"target"`
		Minimum map[string]string `json:"minimum"`
	}
	if err := reshape(data["baseline"], &base); err != nil {
		return nil, fmt.Errorf("data.etcdaudit.baseline: %w", err)
	}
	d.Target, d.Minimum = base.Target, base.Minimum
	if len(d.Path) < 2 {
		return nil, fmt.Errorf("data.etcdaudit.upgrade.path: want at least two minor lines, got %v", d.Path)
	}
	for i, l := range d.Path[:len(d.Path)-1] {
		h, ok := d.Hops[l]
		if !ok {
			return nil, fmt.Errorf("data.etcdaudit.upgrade.hops: no hop from %s", l)
		}
		if h.To != d.Path[i+1] {
			return nil, fmt.Errorf("data.etcdaudit.upgrade.hops.%s.to: %q, but the path goes to %s", l, h.To, d.Path[i+1])
		}
		if h.MinPatch != "" {
			v, err := etcdversion.Parse(h.MinPatch)
			if err != nil || v.MajorMinor() != l {
				return nil, fmt.Errorf("data.etcdaudit.upgrade.hops.%s.min_patch: %q is not a %s version", l, h.MinPatch, l)
			}
		}
	}
	if _, err := etcdversion.Parse(d.Target); err != nil {
		return nil, fmt.Errorf("data.etcdaudit.baseline.target: %w", err)
	}
	for l, m := range d.Minimum {
		if v, err := etcdversion.Parse(m); err != nil || v.MajorMinor() != l {
			return nil, fmt.Errorf("data.etcdaudit.baseline.minimum.%s: %q is not a %s version", l, m, l)
		}
	}
	return &d, nil
}

// lineIndex is the position of a minor line on the path, -1 when absent.
func (d *UpgradeData) lineIndex(line string) int {
	for i, l := range d.Path {
		if l == line {
			return i
		}
	}
	return -1
}

func reshape(in any, out any) error {
	if in == nil {
		return fmt.Errorf("missing")
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

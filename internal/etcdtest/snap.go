package etcdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LatestSnapshot returns the raft term and index of the newest
// member/snap/<term>-<index>.snap in the member's data dir (0, 0 when there
// is none). The 3.5→3.6 procedure hinges on it: the newest snapshot must be
// past the deletion of the v2 data, and only --snapshot-count makes one
// (not `etcdctl snapshot save`, defrag or compaction).
func (m *Member) LatestSnapshot() (term, index uint64, err error) {
	dir := filepath.Join(m.DataDir, "member", "snap")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshots of %s: %w", m.Name, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".snap")
		if !ok {
			continue
		}
		var t, i uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x", &t, &i); err != nil {
			continue // a .snap.broken or a stray file
		}
		if i > index {
			term, index = t, i
		}
	}
	return term, index, nil
}

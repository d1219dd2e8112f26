package remediate

import (
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// Step kinds of the v2 data actions.
const (
	// KindV2Dump: every member healthy, no v3 key under the v2 top-level
	// directories (the conflict check), then a verified dump of the v2 data.
	KindV2Dump = "v2-dump"
	// KindStopWriters runs the stop_writers hook (the API servers).
	KindStopWriters = "stop-writers"
	// KindV2Copy: applied indexes converged, then the guarded copy into v3
	// and its key-by-key verification.
	KindV2Copy = "v2-copy"
	// KindSwitchBackend runs set_backend (etcd3) then start_writers.
	KindSwitchBackend = "switch-backend"
	// KindV2Cleanup deletes the migrated v2 keys and checks no v2 TTL key
	// is left.
	KindV2Cleanup = "v2-cleanup"
)

// Hook names of the data steps.
const (
	hookStopWriters  = "stop_writers"
	hookStartWriters = "start_writers"
	hookSetBackend   = "set_backend"
)

const (
	expV2Dump    = 10 * time.Second
	expV2Copy    = 30 * time.Second
	expV2Cleanup = 20 * time.Second
	expWriters   = 10 * time.Second
)

// V2Planner plans migrate-v2-to-v3, switch-backend and cleanup-v2 before a
// hop that custom v2 data blocks. The forced snapshot past the deletion,
// with --enable-v2 off, is the hop's own step after them.
type V2Planner struct {
	// BackupDir is where the v2 dump and the v3 snapshot go.
	BackupDir string
	Now       time.Time
}

// PlanV2 returns the data steps, in order; beforeLine "" plans them on
// their own, not before a hop.
func (v V2Planner) PlanV2(c *collectors.ClusterFacts, beforeLine string) ([]Step, error) {
	pl := &planner{cf: c, now: v.Now, opts: Options{BackupDir: v.BackupDir}}
	base := "v2-data/before-" + beforeLine
	if beforeLine == "" { // planned on its own, not before a hop
		base = "v2-data/migrate"
	}
	dump := base + "/dump"
	backup := base + "/backup"
	steps := []Step{
		{
			ID: dump, Action: ActionMigrateV2, Kind: KindV2Dump,
			Description:    "check that no v3 key exists under the v2 top-level directories (a conflict halts with the list), then dump every v2 key, directory and remaining TTL as JSON lines, fsynced and re-read to check count and sha256",
			Preconditions:  []string{"every member is healthy"},
			Postconditions: []string{"the v2 dump verifies (count, sha256)"},
			Backup:         strings.TrimSuffix(pl.backupPath(dump), ".db") + ".jsonl",
			Expected:       Duration(expV2Dump),
		},
		{
			ID: base + "/stop-writers", Action: ActionMigrateV2, Kind: KindStopWriters,
			Description:    "stop the writers (the API servers): v2 has no revision to pin a consistent copy to",
			Postconditions: []string{"the stop_writers hook succeeded"},
			Expected:       Duration(expWriters),
		},
		{
			ID: base + "/copy", Action: ActionMigrateV2, Kind: KindV2Copy, Destructive: true,
			Description:    "wait until every member has applied the leader's index, copy every v2 key into v3 (guarded puts, batched within --max-txn-ops, TTL keys on bucketed leases; keys written journaled with their mod revisions), then verify key by key",
			Preconditions:  []string{"the v2 dump verified", "the writers are stopped", "every member's applied index equals the leader's"},
			Postconditions: []string{"every v2 key is in v3 with the same value (TTL keys leased)"},
			Expected:       Duration(expV2Copy),
		},
		{
			ID: backup, Action: ActionMigrateV2, Kind: KindBackup,
			Description:    "take a verified v3 snapshot holding the copied data",
			Preconditions:  []string{"the cluster is healthy"},
			Postconditions: []string{"the snapshot file verifies"},
			Backup:         pl.backupPath(backup),
			Expected:       Duration(expBackupBase),
		},
		{
			ID: base + "/switch-backend", Action: ActionSwitchBackend, Kind: KindSwitchBackend,
			Description:    "point the writers at v3 (set_backend etcd3, the API servers' --storage-backend=etcd3) and start them; the verify hook then checks what depends on them",
			Postconditions: []string{"the set_backend and start_writers hooks succeeded"},
			Expected:       Duration(2 * expWriters),
		},
		{
			ID: base + "/cleanup", Action: ActionCleanupV2, Kind: KindV2Cleanup, Destructive: true,
			Description:    "delete each migrated v2 key whose v3 copy holds the same value (guarded by its modified index), then empty directories; no v2 key with a TTL may remain",
			Preconditions:  []string{"the copy verified", "the v2 dump and the v3 snapshot verified"},
			Postconditions: []string{"the v2 store holds no migrated key and no TTL key"},
			Expected:       Duration(expV2Cleanup),
		},
	}
	for i := range steps {
		if steps[i].Preconditions == nil {
			steps[i].Preconditions = []string{}
		}
	}
	return steps, nil
}

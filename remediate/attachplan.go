package remediate

import (
	"fmt"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// Expected pace of attach-leases, from the leases benchmark (1,000,000 keys
// re-put in about 2 minutes on one 3.5 server): kept slow on purpose.
const (
	expAttachBase  = 5 * time.Second
	attachKeysPerS = 5000
)

// attachLeases plans attach-event-leases: a verified backup (the step
// rewrites keys), then one attach-leases step over the events prefix the
// coverage was measured on. It needs no host hook: it runs through the v3
// API while the cluster serves.
func (pl *planner) attachLeases() error {
	cov := pl.cf.EventLeases
	prefix := ""
	if cov != nil {
		prefix = cov.Prefix
	}
	if prefix == "" && pl.inv != nil {
		prefix = pl.inv.Collect.EventsPrefix
	}
	if prefix == "" {
		prefix = inventory.DefaultEventsPrefix
	}
	for _, m := range pl.cf.Members {
		if m.Version != nil && m.Version.Server != "" && !etcdversion.AtLeast(m.Version.Server, 3, 0) {
			return refusal{fmt.Sprintf("member %s runs %s: leases need the v3 API (3.0+)", m.Label(), m.Version.Server)}
		}
	}
	var keys int64
	unleased := "the unleased keys"
	if cov != nil {
		keys = cov.Keys
		unleased = fmt.Sprintf("%d of %d keys", cov.Unleased, cov.Keys)
	}
	base := "attach-event-leases"
	id := base + "/backup"
	pl.add(Step{
		ID: id, Action: ActionAttachEventLeases, Kind: KindBackup,
		Description:    "take a v3 snapshot from a healthy member before keys are rewritten, write it with its sha256 and verify it with etcd's snapshot library",
		Preconditions:  []string{"the cluster is healthy"},
		Postconditions: []string{"the snapshot file verifies"},
		Backup:         pl.backupPath(id),
		Expected:       Duration(expBackupBase),
	})
	pl.add(Step{
		ID: base + "/attach", Action: ActionAttachEventLeases, Kind: KindAttachLeases, Prefix: prefix,
		Description:    fmt.Sprintf("give %s under %s a shared lease (TTL 1h, bucketed): each key re-put with its current value in a transaction that compares its mod revision, so a write made meanwhile is never overwritten", unleased, prefix),
		Preconditions:  []string{"the cluster is healthy", "the backup before it verified"},
		Postconditions: []string{"every key under " + prefix + " carries a lease"},
		Destructive:    true,
		Expected:       Duration(expAttachBase + time.Duration(keys/attachKeysPerS)*time.Second),
	})
	return nil
}

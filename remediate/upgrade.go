package remediate

import (
	"fmt"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

// Flags the upgrade steps change, and the low snapshot count that makes a
// member save a raft snapshot after a handful of writes (KNOWLEDGE of the
// verified procedure: --snapshot-count=5 and 12 writes).
const (
	flagEnableV2      = "--enable-v2"
	flagSnapshotCount = "--snapshot-count"
	lowSnapshotCount  = "--snapshot-count=5"
	// SnapshotWrites is how many writes the force-snapshot step makes: more
	// than twice the low snapshot count, so every member saves at least one
	// snapshot after the first write.
	SnapshotWrites = 12
)

// Expected durations, from the verified rolling upgrades on real 3-member
// clusters (a hop of three members takes 6–8 s, plus the health waits).
const (
	expMemberUpgrade = 20 * time.Second
	expMemberRestart = 15 * time.Second
	expForceSnapshot = 10 * time.Second
	expWaitVersion   = 30 * time.Second
	expBackupBase    = 5 * time.Second
	backupBytesPerS  = 50 << 20
)

// upgrade plans the hops from every member's version to the target.
func (pl *planner) upgrade() error {
	ms, err := pl.members()
	if err != nil {
		return err
	}
	low := ms[0].v
	for _, m := range ms {
		if m.v.Less(low) {
			low = m.v
		}
		if pl.target.Less(m.v) {
			pl.cp.Warnings = append(pl.cp.Warnings, fmt.Sprintf("member %s runs %s, newer than the target %s: left alone (etcdaudit never downgrades as part of a plan)", m.name, m.v, pl.target))
		}
	}
	start := pl.data.lineIndex(low.MajorMinor())
	if start < 0 {
		return refusal{fmt.Sprintf("member version %s: line %s is not on the upgrade path %s", low, low.MajorMinor(), strings.Join(pl.data.Path, " -> "))}
	}
	end := pl.data.lineIndex(pl.target.MajorMinor())
	if start > end {
		return nil // every member is past the target's line
	}
	for _, m := range ms {
		if i := pl.data.lineIndex(m.v.MajorMinor()); i < 0 {
			return refusal{fmt.Sprintf("member %s runs %s: line %s is not on the upgrade path", m.name, m.v, m.v.MajorMinor())}
		} else if i > start+1 && i <= end {
			return refusal{fmt.Sprintf("members on %s and %s (%s) are more than one minor apart: the cluster is in a state etcd does not support; bring it back to one minor by hand first", low.MajorMinor(), m.v.MajorMinor(), m.name)}
		}
	}
	for i := start; i <= end; i++ {
		line := pl.data.Path[i]
		if i == end {
			pl.patch(ms, line, pl.target, "on the target's line")
			break
		}
		hop := pl.data.Hops[line]
		if err := pl.hop(ms, line, hop); err != nil {
			return err
		}
	}
	return nil
}

// landing is the version installed on a line.
func (pl *planner) landing(line string) (etcdversion.Version, error) {
	s, ok := pl.via[line]
	if !ok {
		return etcdversion.Version{}, refusal{fmt.Sprintf("no version to land on for %s: give one with --via %s.N (the baseline has no minimum for it)", line, line)}
	}
	return etcdversion.Parse(s)
}

// patch upgrades the members of line that run below to, within the line.
func (pl *planner) patch(ms []*member, line string, to etcdversion.Version, why string) {
	var todo []*member
	for _, m := range ms {
		if m.v.MajorMinor() == line && m.v.Less(to) {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return
	}
	base := fmt.Sprintf("upgrade/%s-patch-%s", line, to)
	pl.backup(base, line)
	for _, m := range todo {
		pl.memberUpgrade(base, m, to, nil, fmt.Sprintf("patch upgrade %s", why))
	}
}

// hop plans one minor hop, line -> hop.To, with its preconditions as steps.
func (pl *planner) hop(ms []*member, line string, hop Hop) error {
	land, err := pl.landing(hop.To)
	if err != nil {
		return err
	}
	if hop.MinPatch != "" {
		min, _ := etcdversion.Parse(hop.MinPatch) // checked when the data was read
		cur, err := pl.landing(line)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.v.MajorMinor() == line && m.v.Less(min) && cur.Less(min) {
				return refusal{fmt.Sprintf("member %s runs %s, below %s which the %s -> %s hop needs, and the landing version for %s is %s: give --via %s", m.name, m.v, min, line, hop.To, line, cur, hop.MinPatch)}
			}
		}
		pl.patch(ms, line, cur, fmt.Sprintf("to at least %s before the %s -> %s hop", hop.MinPatch, line, hop.To))
	}
	var movers []*member
	for _, m := range ms {
		if m.v.MajorMinor() == line {
			movers = append(movers, m)
		}
	}
	if len(movers) == 0 {
		return nil
	}
	to := land
	if line == "3.4" && to.AtLeast(3, 5) {
		for _, m := range ms {
			if sec := m.facts.Security; sec != nil && sec.AuthEnabled != nil && *sec.AuthEnabled {
				return refusal{fmt.Sprintf("auth is enabled (seen on %s): a rolling 3.4 -> 3.5 upgrade is not supported with auth, 3.5 changed the WAL format of auth entries (etcd 3.5 upgrade guide, etcd#11943); disable auth for the hop or upgrade by snapshot and restore", m.name)}
			}
		}
	}
	base := fmt.Sprintf("upgrade/%s-%s", line, hop.To)
	if line == "3.4" && to.AtLeast(3, 5) {
		// Before the backup, so that a restore of it drops no revision
		// but the user's own.
		pl.persistIndex(base)
	}
	pl.backup(base, line)
	var drop []string
	switch {
	case hop.To == pl.data.V2Migration.Before:
		if err := pl.v2Blocks(ms, hop.To, fmt.Sprintf("%s panics on a data dir without v3 data (etcd#9480): migrate-v2-to-v3 must run on %s", hop.To, strings.Join(pl.data.V2Migration.Lines, " or "))); err != nil {
			return err
		}
		// Even an empty v2 store needs v3 data and a snapshot past it, or
		// 3.2+ panics looking for the snapshot's v3 db (etcd#9480).
		pl.forceSnapshot(base, movers, nil, fmt.Sprintf("write v3 data and a raft snapshot past it on every %s member before %s (etcd#9480)", line, hop.To))
		drop = []string{flagSnapshotCount}
	case to.AtLeast(3, 6) && !etcdversion.AtLeast(line, 3, 6):
		if err := v2AuthBlocks(ms, hop.To); err != nil {
			return err
		}
		if err := pl.v2Blocks(ms, hop.To, "3.6 refuses to start on custom v2 data (\"detected disallowed custom content in v2store\") and panics on v2 entries in the log; migrate-v2-to-v3 and cleanup-v2 must run first"); err != nil {
			return err
		}
		pl.forceSnapshot(base, movers, []string{flagEnableV2}, fmt.Sprintf("--enable-v2 off on every %s member and a raft snapshot past the last v2 entry before the first %s binary starts (else 3.6 panics \"detected disallowed v2 WAL\")", line, hop.To))
		drop = []string{flagSnapshotCount}
	case to.AtLeast(3, 7) && !etcdversion.AtLeast(line, 3, 7):
		pl.forceSnapshot(base, movers, nil, fmt.Sprintf("every %s member's newest raft snapshot written by %s before %s (else 3.7 panics \"unmarshal should never fail\")", line, line, hop.To))
		drop = []string{flagSnapshotCount}
	}
	var add []string
	if line == "3.4" && pl.opts.Data != nil && pl.holdsV2(ms) {
		// 3.4 serves v2 by default, 3.5 only with --enable-v2: the v2 data
		// steps before the 3.6 hop read it on 3.5.
		add = []string{flagEnableV2 + "=true"}
	}
	for _, m := range movers {
		pl.memberUpgrade(base, m, to, drop, fmt.Sprintf("upgrade hop %s -> %s", line, hop.To), add...)
	}
	pl.waitVersion(base, hop.To)
	return nil
}

// holdsV2: a member holds custom v2 data.
func (pl *planner) holdsV2(ms []*member) bool {
	for _, m := range ms {
		if v2 := m.facts.V2; v2 != nil && v2.Keys > 0 {
			return true
		}
	}
	return false
}

// v2AuthBlocks refuses the hop into 3.6 while a member's v2 store keeps v2
// auth users or roles (3.6 refuses them as custom v2 content, and no data
// action removes them: changing auth is the operator's call), or while v2
// auth is on and they could not be read.
func v2AuthBlocks(ms []*member, line string) error {
	var holders, unread []string
	for _, m := range ms {
		v2 := m.facts.V2
		switch {
		case v2 == nil || !v2.Enabled || !v2.Counted:
			// v2Blocks refuses these.
		case v2.AuthCounted && v2.AuthUsers+v2.AuthRoles > 0:
			holders = append(holders, fmt.Sprintf("%s (%d users, %d roles)", m.name, v2.AuthUsers, v2.AuthRoles))
		case v2.AuthEnabled && !v2.AuthCounted:
			unread = append(unread, m.name)
		}
	}
	if len(holders) > 0 {
		return refusal{fmt.Sprintf("v2 auth users or roles on %s block the hop to %s: 3.6 refuses them as custom v2 content; as the v2 root user run `ETCDCTL_API=2 etcdctl auth disable`, remove every v2 user and role, then plan again", strings.Join(holders, ", "), line)}
	}
	if len(unread) > 0 {
		return refusal{fmt.Sprintf("v2 auth is on on %s and its users and roles could not be read (give the cluster's root user and password in the inventory): the hop to %s needs to know there are none", strings.Join(unread, ", "), line)}
	}
	return nil
}

// v2Blocks refuses a hop into line while a member holds custom v2 data (or
// its v2 store was not counted), unless a DataPlanner plans the data
// actions before it: their steps are added then.
func (pl *planner) v2Blocks(ms []*member, line, why string) error {
	var holders, uncounted []string
	for _, m := range ms {
		v2 := m.facts.V2
		switch {
		case v2 == nil:
			uncounted = append(uncounted, m.name)
		case v2.Enabled && !v2.Counted:
			uncounted = append(uncounted, m.name)
		case v2.Keys > 0:
			holders = append(holders, fmt.Sprintf("%s (%d keys, %d with a TTL)", m.name, v2.Keys, v2.TTLKeys))
		}
	}
	if len(holders) == 0 && len(uncounted) == 0 {
		return nil
	}
	// The data actions copy through the v3 API and run before the 3.6 hop
	// (on 3.5); the 3.2 hop's migration (on 3.0 or 3.1) is not planned.
	if pl.opts.Data != nil && len(holders) > 0 && len(uncounted) == 0 && etcdversion.AtLeast(line, 3, 6) {
		steps, err := pl.opts.Data.PlanV2(pl.cf, line)
		if err != nil {
			return refusal{fmt.Sprintf("custom v2 data before %s: %v", line, err)}
		}
		pl.addData(steps)
		return nil
	}
	if len(holders) > 0 {
		return refusal{fmt.Sprintf("custom v2 data on %s blocks the hop to %s: %s; this build cannot plan those data actions yet", strings.Join(holders, ", "), line, why)}
	}
	return refusal{fmt.Sprintf("the v2 store of %s was not counted (plan from a full-profile scan: --profile full): the hop to %s needs to know it holds no custom v2 data", strings.Join(uncounted, ", "), line)}
}

func (pl *planner) add(s Step) {
	s.Controls = pl.controls
	if s.Preconditions == nil {
		s.Preconditions = []string{}
	}
	if s.Postconditions == nil {
		s.Postconditions = []string{}
	}
	pl.cp.Steps = append(pl.cp.Steps, s)
}

func (pl *planner) backup(base, line string) {
	if !etcdversion.AtLeast(line, 3, 0) {
		pl.cp.Warnings = appendUnique(pl.cp.Warnings, fmt.Sprintf("no verified backup on %s (the v3 snapshot API starts at 3.0): copy every member's data dir before approving", line))
		return
	}
	var db int64
	for _, m := range pl.cf.Members {
		if m.Status != nil && m.Status.DBSize > db {
			db = m.Status.DBSize
		}
	}
	id := base + "/backup"
	pl.add(Step{
		ID: id, Action: ActionUpgrade, Kind: KindBackup,
		Description:    "take a v3 snapshot from a healthy member, write it with its sha256 and verify it with etcd's snapshot library (hash, revision, key count)",
		Preconditions:  []string{"the cluster is healthy"},
		Postconditions: []string{"the snapshot file verifies"},
		Backup:         pl.backupPath(id),
		Expected:       Duration(expBackupBase + time.Duration(db/backupBytesPerS)*time.Second),
	})
}

func (pl *planner) memberUpgrade(base string, m *member, to etcdversion.Version, drop []string, why string, add ...string) {
	from := m.v
	pl.add(Step{
		ID: base + "/member/" + m.name, Action: ActionUpgrade, Kind: KindMemberUpgrade,
		Member: m.name, MemberID: m.id, ClientURL: m.client, PeerURL: m.peer,
		From: from.String(), To: to.String(), FlagsAdd: add, FlagsDrop: drop, Destructive: true,
		Description: fmt.Sprintf("%s: stop %s, install %s, start it", why, m.name, to),
		Preconditions: []string{
			"every member healthy",
			fmt.Sprintf("%s caught up (same applied index as the leader)", m.name),
		},
		Postconditions: []string{
			fmt.Sprintf("%s healthy and caught up", m.name),
			fmt.Sprintf("%s reports version %s", m.name, to),
		},
		Expected: Duration(expMemberUpgrade),
	})
	m.v = to
}

// forceSnapshot restarts each member with a low snapshot count (and the
// flags in drop removed), then writes until every one has saved a raft
// snapshot past the writes.
func (pl *planner) forceSnapshot(base string, ms []*member, drop []string, why string) {
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
		flagsDesc := "--snapshot-count=5"
		if len(drop) > 0 {
			flagsDesc = "without " + strings.Join(drop, ", ") + ", with --snapshot-count=5"
		}
		pl.add(Step{
			ID: base + "/restart/" + m.name, Action: ActionUpgrade, Kind: KindMemberRestart,
			Member: m.name, MemberID: m.id, ClientURL: m.client, PeerURL: m.peer,
			From: m.v.String(), To: m.v.String(), FlagsAdd: []string{lowSnapshotCount}, FlagsDrop: drop, Destructive: true,
			Description:    fmt.Sprintf("restart %s on %s %s", m.name, m.v, flagsDesc),
			Preconditions:  []string{"every member healthy", fmt.Sprintf("%s caught up", m.name)},
			Postconditions: []string{fmt.Sprintf("%s healthy, caught up, on %s", m.name, m.v)},
			Expected:       Duration(expMemberRestart),
		})
	}
	pl.add(Step{
		ID: base + "/force-snapshot", Action: ActionUpgrade, Kind: KindForceSnapshot,
		Description:   fmt.Sprintf("%s: put and delete one key %d times, then check that %s each saved a raft snapshot (etcd_debugging_snap_save_total_duration_seconds_count grew)", why, SnapshotWrites, strings.Join(names, ", ")),
		Preconditions: []string{"every member healthy and restarted with --snapshot-count=5"},
		Postconditions: []string{
			"every restarted member saved a snapshot after the writes began",
			"the key written is deleted again (the keyspace is unchanged)",
		},
		Expected: Duration(expForceSnapshot),
	})
}

// persistIndex plans one v3 write before the 3.4 -> 3.5 hop. A 3.4 backend
// records the raft index it has applied (its consistent index) only when a
// v3 key changes, so a cluster that never wrote one (the etcd2 backend of
// Kubernetes) has none. 3.5 then re-applies the whole log to its v3 store
// on its first start; applying the bootstrap membership entries one at a
// time, it records the members not added yet as removed ("Removing zombie
// member from v3store", etcd-io/etcd server/etcdserver/api/membership,
// CleanupZombieMembersIfNeeded), 3.6 reads membership from the v3 store and
// rejects those members as removed: the second member of the 3.6 hop never
// rejoins. One put and delete, applied by every member before it stops
// (the member upgrade's caught-up precondition), moves the index past them.
// It changes nothing a user sees but two revisions.
func (pl *planner) persistIndex(base string) {
	pl.add(Step{
		ID: base + "/persist-index", Action: ActionUpgrade, Kind: KindPersistIndex,
		Description: "put and delete one v3 key, so that every 3.4 member's backend records the raft index it applied " +
			"(a 3.4 cluster that never wrote a v3 key has none; 3.5 would then re-apply the membership entries and record live members as removed, which 3.6 believes)",
		Preconditions:  []string{"the cluster is healthy"},
		Postconditions: []string{"the key written is deleted again (the keyspace is unchanged)"},
		Expected:       Duration(expForceSnapshot),
	})
}

func (pl *planner) waitVersion(base, line string) {
	post := []string{fmt.Sprintf("the cluster version is %s.0", line)}
	if etcdversion.AtLeast(line, 3, 6) {
		post = append(post, fmt.Sprintf("every member's storage version is %s.0", line))
	}
	pl.add(Step{
		ID: base + "/wait-version", Action: ActionUpgrade, Kind: KindWaitClusterVersion, To: line,
		Description:    fmt.Sprintf("wait until the leader raises the cluster version to %s", line),
		Preconditions:  []string{"every member runs " + line},
		Postconditions: post,
		Expected:       Duration(expWaitVersion),
	})
}

// stepHooks are the hooks a step kind runs, in order.
func stepHooks(s *Step) []string {
	var hs []string
	switch s.Kind {
	case KindMemberUpgrade:
		hs = []string{hookStop}
		if checksV2Store(s) {
			hs = append(hs, hookCheckV2)
		}
		if len(s.FlagsAdd)+len(s.FlagsDrop) > 0 {
			hs = append(hs, hookFlags)
		}
		hs = append(hs, hookInstall, hookStart)
	case KindMemberRestart:
		hs = []string{hookStop, hookFlags, hookStart}
	case KindStopWriters:
		hs = []string{hookStopWriters}
	case KindSwitchBackend:
		hs = []string{hookSetBackend, hookStartWriters}
	}
	return hs
}

// checksV2Store: the step starts a member's first 3.6 binary, which refuses
// custom v2 content in the data dir's v2 snapshot and panics on v2 entries
// in its WAL; the check_v2store hook looks for both while the member is down.
func checksV2Store(s *Step) bool {
	return s.Kind == KindMemberUpgrade && etcdversion.AtLeast(s.To, 3, 6) && !etcdversion.AtLeast(s.From, 3, 6)
}

// optionalHooks run when the inventory has them; a step that would run one
// the inventory lacks goes without it, and the plan says so.
var optionalHooks = map[string]string{
	hookCheckV2: "no check_v2store hook: before each member's first 3.6 start, only the forced snapshot is checked (through the members' snapshot counters), not the data dir itself; add one that runs `etcdutl check v2store --data-dir DIR` on the member's host with etcdutl 3.5.32 or later (earlier ones do not read the WAL records)",
}

// renderHooks fills every step's hook argv, refusing the plan when the
// inventory lacks a hook a step needs. verify and check_v2store are
// optional: without verify only etcd's own health is checked after each
// step, which the plan says; see optionalHooks.
func (pl *planner) renderHooks() error {
	var missing []string
	has := func(n string) bool { return pl.hooks != nil && pl.hooks.Has(n) }
	for i := range pl.cp.Steps {
		s := &pl.cp.Steps[i]
		for _, h := range stepHooks(s) {
			if has(h) {
				continue
			}
			if warn, ok := optionalHooks[h]; ok {
				pl.cp.Warnings = appendUnique(pl.cp.Warnings, warn)
				continue
			}
			missing = appendUnique(missing, h)
		}
	}
	if len(missing) > 0 {
		return refusal{fmt.Sprintf("the inventory has no %s hook for cluster %s (needed by the plan's steps; see docs/remediation.md)", strings.Join(missing, ", "), pl.cf.Name)}
	}
	verify := has(hookVerify)
	if !verify && len(pl.cp.Steps) > 0 {
		pl.cp.Warnings = append(pl.cp.Warnings, "no verify hook: after each step only etcd's own health is checked (add one that probes what depends on etcd, e.g. the API servers)")
	}
	for i := range pl.cp.Steps {
		s := &pl.cp.Steps[i]
		var names []string
		for _, h := range stepHooks(s) {
			if _, opt := optionalHooks[h]; !opt || has(h) {
				names = append(names, h)
			}
		}
		if verify {
			names = append(names, hookVerify)
		}
		for _, h := range names {
			argv, err := pl.hooks.Render(h, pl.cf.Name, s)
			if err != nil {
				return refusal{fmt.Sprintf("hook %s for step %s: %v", h, s.ID, err)}
			}
			s.Hooks = append(s.Hooks, HookCall{Name: h, Argv: argv})
		}
	}
	return nil
}

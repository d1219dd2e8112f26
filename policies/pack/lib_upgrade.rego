# METADATA
# description: >-
#   Upgrade-path helpers: the one-minor hops from a member's version to the
#   target, and what must be true before the next one
#   (data.etcdaudit.upgrade).
package etcdaudit.lib.upgrade

import data.etcdaudit.lib.versions

path := data.etcdaudit.upgrade.path

# next_lines are the minor lines a member on version v must pass through to
# reach target, in order (empty when already on the target's line).
next_lines(v, target) := array.slice(path, versions.index[versions.line(v)] + 1, versions.index[versions.line(target)] + 1)

# landing is the version to install on a line: the target itself on the
# target's line, else the baseline minimum for that line.
landing(l, target) := target if {
	l == versions.line(target)
} else := m if {
	m := data.etcdaudit.baseline.minimum[l]
} else := concat("", [l, ".x (latest)"])

# plan describes how a member on v reaches target: the path of one-minor hops
# and the preconditions of the next hop (with the v2->v3 migration point
# when the path crosses it).
plan(v, target) := msg if {
	versions.line(v) == versions.line(target)
	msg := sprintf("patch upgrade within %s: replace the binary with %s one member at a time, followers first, leader last", [versions.line(v), target])
}

plan(v, target) := msg if {
	from := versions.line(v)
	from != versions.line(target)
	lines := next_lines(v, target)
	count(lines) > 0
	hop := data.etcdaudit.upgrade.hops[from]
	msg := sprintf("upgrade path %s -> %s, one minor at a time (followers first, leader last); next hop %s -> %s (install %s): before it, %s%s", [from, concat(" -> ", lines), from, hop.to, landing(hop.to, target), concat("; ", hop.preconditions), migration_note(from)])
}

migration_note(from) := note if {
	mig := data.etcdaudit.upgrade.v2_migration
	# The hop into `before` states it in its own preconditions already.
	versions.index[from] < versions.index[mig.before] - 1
	note := sprintf("; the v2->v3 data migration must happen on %s, before %s (%s)", [concat(" or ", mig.lines), mig.before, mig.tool])
} else := ""

# describe never leaves a denial without a message: when no plan is known
# (a line missing from the upgrade data) it says so.
describe(v, target) := p if {
	p := plan(v, target)
} else := sprintf("no upgrade path known from %s to %s in data.etcdaudit.upgrade (path: %s)", [v, target, concat(" -> ", path)])

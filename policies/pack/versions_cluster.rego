# METADATA
# title: Cluster version equals the lowest member version (no upgrade left half done)
# description: >-
#   The leader sets the cluster version to the lowest major.minor among
#   members, and every member should report the same one. A cluster version
#   behind every member, members disagreeing on it, or members on different
#   minors mean a rolling upgrade was left half done.
# custom:
#   id: ETCD-VER-004
#   impact: 0.6
#   scope: cluster
#   tags: [versions, upgrade]
#   remediation: upgrade
#   refs: ["https://github.com/etcd-io/etcd/blob/v3.5.0/server/etcdserver/cluster_util.go"]
#   needs: [members.version]
package etcdaudit.controls.versions.cluster

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.versions

servers := {m.version.server | some m in input.cluster.members; m.version.server}

# Distinct minor lines of the servers (usually one); the lowest by upgrade
# path position. The exact lowest version is computed only for a message.
server_lines := {versions.line(v) | some v in servers}

lowest_line := min({[versions.index[l], l] | some l in server_lines})[1] if {
	every l in server_lines {
		versions.index[l]
	}
} else := versions.line(lowest)

lowest := versions.lowest(servers)

# [member, cluster version] pairs. A set, not an object keyed by name: two
# members may share a name (or have none yet), which must not turn the
# control into a rule conflict.
reported contains [member_label(m, i), m.version.cluster] if {
	some i, m in input.cluster.members
	m.version.cluster != ""
}

member_label(m, i) := m.name if {
	m.name != ""
} else := m.endpoint if {
	m.endpoint != ""
} else := sprintf("member #%d", [i + 1])

reported_lines := {versions.line(c) | some [_, c] in reported}

deny contains msg if {
	count(reported_lines) > 1
	pairs := [sprintf("%s: %s", [n, c]) | some [n, c] in reported]
	msg := sprintf("members disagree on the cluster version (%s): a member has not caught up with the leader", [concat(", ", pairs)])
}

deny contains msg if {
	count(reported_lines) == 1
	some l in reported_lines
	l != lowest_line
	msg := sprintf("cluster version %s but the lowest member runs %s: the cluster version is not %s, an upgrade was left half done (check the leader's logs for the version decision)", [l, lowest, lowest_line])
}

deny contains msg if {
	count(server_lines) > 1
	by_line := [sprintf("%s on %s", [l, concat(", ", sort([n | some m in input.cluster.members; m.version.server; versions.line(m.version.server) == l; n := m.name]))]) | some l in server_lines]
	msg := sprintf("upgrade left half done: members run %s; the cluster stays at %s until every member runs the same minor%s", [concat("; ", sort(by_line)), lowest_line, remediate.hint("upgrade")])
}

skip contains "no member reported a cluster version (etcd 2.0 answers /version in plain text)" if {
	count(reported) == 0
}

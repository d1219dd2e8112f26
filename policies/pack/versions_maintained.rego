# METADATA
# title: etcd version line still maintained
# description: >-
#   The member's minor line still receives fixes
#   (data.etcdaudit.baseline.maintained_lines). An unmaintained line gets no
#   fix for the next CVE or corruption bug.
# custom:
#   id: ETCD-VER-005
#   impact: 0.7
#   scope: member
#   tags: [versions, security]
#   remediation: upgrade
#   refs: ["https://github.com/etcd-io/etcd/security/advisories/GHSA-xg4h-6gfc-h4m8", "https://etcd.io/docs/v3.6/op-guide/versioning/"]
#   needs: [version]
package etcdaudit.controls.versions.maintained

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.upgrade
import data.etcdaudit.lib.versions

deny contains msg if {
	v := input.member.version.server
	versions.valid(v)
	l := versions.line(v)
	maintained := data.etcdaudit.baseline.maintained_lines
	not l in maintained
	target := data.etcdaudit.baseline.target
	not newer_than_known(v, l)
	msg := sprintf("etcd %s: line %s no longer receives fixes (maintained: %s); %s%s", [v, l, concat(", ", maintained), upgrade.describe(v, target), remediate.hint("upgrade")])
}

skip contains msg if {
	v := input.member.version.server
	not versions.valid(v)
	msg := sprintf("server version %q is not a semantic version; cannot tell its line", [v])
}

# A line newer than any the pack knows is not "unmaintained": the pack's
# data is out of date, which is worth a skip, not a failure.
newer_than_known(v, l) if {
	not versions.line_index(l)
	versions.compare(v, data.etcdaudit.baseline.target) > 0
}

skip contains msg if {
	v := input.member.version.server
	versions.valid(v)
	newer_than_known(v, versions.line(v))
	msg := sprintf("etcd %s is newer than every line this pack knows (target %s): update the pack's data (maintained_lines, upgrade.path)", [v, data.etcdaudit.baseline.target])
}

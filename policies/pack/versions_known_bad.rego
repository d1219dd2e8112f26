# METADATA
# title: No known-bad etcd version
# description: >-
#   The member runs no release inside a range with a known defect (data
#   corruption, crash on restart, CVE) from data.etcdaudit.known_issues.
#   Each failure names the defect, its issue and the first fixed release.
# custom:
#   id: ETCD-VER-001
#   impact: 0.9
#   scope: member
#   tags: [versions, corruption, security]
#   remediation: upgrade
#   refs: ["https://github.com/etcd-io/etcd/tree/main/CHANGELOG", "https://etcd.io/docs/v3.5/op-guide/data_corruption/"]
#   needs: [version]
package etcdaudit.controls.versions.known_bad

import data.etcdaudit.lib.remediate
import data.etcdaudit.lib.versions

deny contains msg if {
	v := input.member.version.server
	l := versions.line(v)
	some id, row in data.etcdaudit.known_issues
	r := row.affected[l]
	versions.compare(v, r.from) >= 0
	versions.compare(v, r.below) < 0
	msg := sprintf("etcd %s is affected by %s (%s) [%s]; fixed in %s%s%s", [v, row.issue, row.title, id, r.fixed, no_fix_note(l, r.fixed), remediate.hint("upgrade")])
}

no_fix_note(l, fixed) := sprintf(" (no fix on the %s line)", [l]) if {
	versions.line(fixed) != l
} else := ""

skip contains msg if {
	v := input.member.version.server
	not versions.valid(v)
	msg := sprintf("server version %q is not a semantic version; cannot compare it with known issues", [v])
}

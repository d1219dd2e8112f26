# METADATA
# title: Broken control
# custom:
#   id: TEST-BROKEN-001
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.broken

deny contains msg if {
	msg := sprintf("unterminated %s", [input.member.name]
}

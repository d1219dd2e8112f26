# METADATA
# title: A shared helper rule also read under `with`
# custom:
#   id: TEST-SPLIT-004
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.split_with

v := input.member.version.server

deny contains msg if {
	input.member.status.db_size > 0
	x := v with input.member.version.server as "9.9.9"
	x != v
	msg := sprintf("%s instead of %s", [x, v])
}

# METADATA
# title: Complete rule with two values at runtime
# custom:
#   id: TEST-CONFLICT-001
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.conflict

level := "a" if input.member.name != ""

level := "b" if input.member.reachable

deny contains level if level == "zzz"

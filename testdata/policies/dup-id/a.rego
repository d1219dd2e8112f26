# METADATA
# title: First of two
# custom:
#   id: TEST-DUP-001
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.dup_a

deny contains "a" if input.member.name == "x"

# METADATA
# title: Second of two, same id
# custom:
#   id: TEST-DUP-001
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.dup_b

deny contains "b" if input.member.name == "x"

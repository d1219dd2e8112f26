# METADATA
# title: Denies with a number instead of a message
# custom:
#   id: TEST-OUT-001
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.numbers

deny contains 42 if input.member.name != ""

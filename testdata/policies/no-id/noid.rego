# METADATA
# title: A control someone forgot to give an id
# custom:
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.noid

deny contains "always" if input.member.name == "x"

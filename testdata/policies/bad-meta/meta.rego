# METADATA
# title: Bad metadata
# custom:
#   id: TEST-META-001
#   impact: 2
#   scope: node
#   needs: [verison]
package etcdaudit.controls.test.meta

deny contains "x" if input.member.name == "x"

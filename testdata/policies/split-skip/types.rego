# METADATA
# title: Split control with a number in deny and an object in skip
# custom:
#   id: TEST-SPLIT-003
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.split_types

deny contains 7 if input.member.status.db_size > 1500000000

skip contains {1: "x"} if input.member.version.server == "3.6.16"

skip contains 8 if input.member.version.server == "3.7.3"

# METADATA
# title: Split control whose skip conflicts on one version
# custom:
#   id: TEST-SPLIT-002
#   impact: 0.5
#   scope: member
package etcdaudit.controls.test.split_conflict

deny contains "big" if input.member.status.db_size > 1000000000

which := 1 if input.member.version.server == "3.5.35"

which := 2 if input.member.version.server == "3.5.35"

skip contains "one" if which == 1

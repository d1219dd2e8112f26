# Controls whose deny reads per-member facts while their skip reads only
# the version: the engine judges skip once per version (a memo group) and
# deny per member. Some are broken on purpose: the results must be exactly
# those of judging each control in one evaluation (policies memo tests).

# METADATA
# title: Split control, healthy
# custom:
#   id: TEST-SPLIT-001
#   impact: 0.5
#   scope: member
#   needs: [status, version]
package etcdaudit.controls.test.split_ok

deny contains sprintf("db %d bytes", [input.member.status.db_size]) if input.member.status.db_size > 1000000000

skip contains sprintf("old %s", [input.member.version.server]) if startswith(input.member.version.server, "3.4")

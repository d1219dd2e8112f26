# METADATA
# description: >-
#   The one place a failure message names the etcdaudit command that plans
#   its fix, so the wording follows the remediator's CLI in one edit.
package etcdaudit.lib.remediate

# hint(action) ends a failure message: the command that plans the control's
# remediation action (custom.remediation) for the failing subjects.
hint(action) := sprintf(" (`etcdaudit remediate plan --actions %s` plans it)", [action])

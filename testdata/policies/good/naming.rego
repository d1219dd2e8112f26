# METADATA
# title: Member names follow the site convention
# description: A user control, to show --policy, --no-builtin and policy test.
# custom:
#   id: SITE-NAME-001
#   impact: 0.2
#   scope: member
#   tags: [site]
#   needs: [version]
package etcdaudit.controls.site.naming

import data.etcdaudit.lib.versions

deny contains msg if {
	not startswith(input.member.name, "etcd-")
	msg := sprintf("member %q does not follow the etcd-<n> naming convention", [input.member.name])
}

deny contains msg if {
	versions.compare(input.member.version.server, data.etcdaudit.site.min_version) < 0
	msg := sprintf("etcd %s below the site minimum %s", [input.member.version.server, data.etcdaudit.site.min_version])
}

# METADATA
# description: >-
#   An example gate for `etcdaudit serve --remediate --gate serve-gate.rego`
#   (docs/serve.md, "Auto-remediation"). Per (cluster, action) it answers
#   exactly one of:
#     auto     attach-event-leases on a `tier: small` cluster inside its
#              maintenance window: serve runs it after the scan, no person;
#     approve  upgrades and the v2 data migrations, and anything else that
#              is safe to run: it waits for a person (GET /api/plans, POST
#              /api/plans/ID/approve);
#     deny     a `tier: large` cluster without a person, or a cluster that
#              is not healthy enough to touch.
#   The same file serves `etcdaudit remediate apply --gate`: a person runs
#   apply (input.mode "apply"), so large clusters are not denied for want of
#   one there.
package etcdaudit.gate

tier := t if {
	t := input.cluster.tier
	t != ""
} else := "medium"

# A person is behind this run: apply/resume by hand, or serve running a plan
# someone approved over its API (input.approver names them).
person if input.mode == "apply"

person if object.get(input, "approver", "") != ""

in_window if input.cluster.maintenance_window.open

voting := [m | some m in input.facts.members; not m.learner]

healthy := [m | some m in voting; m.reachable; m.healthy]

deny contains msg if {
	count(healthy) < (count(voting) / 2) + 0.5
	msg := sprintf("quorum not healthy: %d of %d voting members healthy", [count(healthy), count(voting)])
}

deny contains msg if {
	some m in input.facts.members
	not m.reachable
	msg := sprintf("member %s is unreachable", [m.name])
}

deny contains msg if {
	some m in input.facts.members
	m.reachable
	not m.healthy
	msg := sprintf("member %s is unhealthy: %s", [m.name, object.get(m, "reason", "no reason given")])
}

deny contains msg if {
	some m in input.facts.members
	some a in object.get(m, "alarms", [])
	msg := sprintf("alarm %s raised on member %s", [a, m.name])
}

deny contains "no member facts: the cluster could not be read" if count(input.facts.members) == 0

deny contains msg if {
	tier == "large"
	not person
	msg := sprintf("tier large: %s is not remediated without a person (run etcdaudit remediate apply by hand)", [input.cluster.name])
}

auto if {
	input.action == "attach-event-leases"
	tier == "small"
	in_window
}

approve_reason := sprintf("%s changes etcd's binaries or data layout: a person approves it", [input.action]) if {
	input.action in {"upgrade", "migrate-v2-to-v3", "switch-backend", "cleanup-v2"}
} else := sprintf("outside the maintenance window %s: a person approves it", [input.cluster.maintenance_window.spec]) if {
	input.action == "attach-event-leases"
	tier == "small"
	input.cluster.maintenance_window.spec
} else := "no maintenance window in the inventory: a person approves it" if {
	input.action == "attach-event-leases"
	tier == "small"
} else := sprintf("%s runs by itself only on small clusters (this one is %s): a person approves it", [input.action, tier])

decision := {"decision": "deny", "reasons": sort([m | some m in deny])} if {
	count(deny) > 0
} else := {"decision": "auto", "reasons": [sprintf("%s on small cluster %s inside its maintenance window %s", [input.action, input.cluster.name, input.cluster.maintenance_window.spec])]} if {
	auto
} else := {"decision": "approve", "reasons": [approve_reason]}

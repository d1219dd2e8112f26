# METADATA
# description: >-
#   The default remediation gate: before each cluster, apply asks
#   data.etcdaudit.gate.decision whether one action may run on it. Replace it
#   with `etcdaudit remediate apply --gate FILE` (same package, same answer
#   shape). The answer is {"decision": "auto" | "approve" | "deny",
#   "reasons": [...]}: auto runs without a person (serve --remediate),
#   approve waits for one (apply --approve, or serve's approve API), deny
#   does not run. This default never says auto: with it, serve only offers
#   plans for approval. docs/serve.md has an example gate that does.
package etcdaudit.gate

tiers := ["small", "medium", "large"]

# A cluster without a tier label is gated as medium: after the small
# clusters, allowed without --allow-tier.
tier := t if {
	t := input.cluster.tier
	t != ""
} else := "medium"

rank(t) := i if {
	tiers[i] == t
} else := 1

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

deny contains msg if {
	count(input.facts.members) == 0
	msg := "no member facts: the cluster could not be read"
}

# Tiers in order: a cluster waits while a cluster of a smaller tier in the
# same run is not done.
deny contains msg if {
	some p in input.run.pending
	rank(tier_of(p)) < rank(tier)
	msg := sprintf("tier %s waits for the %s cluster %s to finish first", [tier, tier_of(p), p.name])
}

tier_of(c) := t if {
	t := c.tier
	t != ""
} else := "medium"

deny contains msg if {
	tier == "large"
	not "large" in object.get(input.options, "allow_tiers", [])
	msg := "tier large needs --allow-tier large"
}

deny contains msg if {
	w := input.cluster.maintenance_window
	w.spec != ""
	not w.open
	msg := sprintf("outside the maintenance window %s (%s)", [w.spec, object.get(w, "error", "now is not in it")])
}

deny contains msg if {
	max := object.get(input.options, "max_clusters", 0)
	max > 0
	input.run.clusters_started >= max
	msg := sprintf("--max-clusters %d reached", [max])
}

decision := {"decision": "deny", "reasons": sort([m | some m in deny])} if {
	count(deny) > 0
} else := {"decision": "approve", "reasons": [sprintf("%s: quorum healthy, every member reachable, no alarm, tier %s in order; a person approves", [input.cluster.name, tier])]}

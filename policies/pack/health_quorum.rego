# METADATA
# title: Odd number of voting members, at least 3 for medium and large tiers
# description: >-
#   An even member count tolerates no more failures than the odd count below
#   it while needing a larger quorum. Tiers (label tier) medium and large
#   need at least data.etcdaudit.baseline.min_voting_members[tier] voting
#   members (3: one failure tolerated).
# custom:
#   id: ETCD-HEALTH-007
#   impact: 0.7
#   scope: cluster
#   tags: [health, membership]
#   remediation: none
#   refs: ["https://etcd.io/docs/v3.5/faq/#why-an-odd-number-of-cluster-members"]
#   needs: [consistency]
package etcdaudit.controls.health.quorum

n := input.cluster.consistency.voting_members

tier := object.get(object.get(input.cluster, "labels", {}), "tier", "")

deny contains msg if {
	n > 0
	n % 2 == 0
	msg := sprintf("%d voting members: an even count tolerates %d failure(s), like %d members, but needs a quorum of %d; add or remove one member", [n, floor((n - 1) / 2), n - 1, floor(n / 2) + 1])
}

deny contains "no voting member: every listed member is a learner or never started" if n == 0

deny contains msg if {
	want := data.etcdaudit.baseline.min_voting_members[tier]
	n > 0
	n < want
	msg := sprintf("tier %s needs at least %d voting members, has %d", [tier, want, n])
}

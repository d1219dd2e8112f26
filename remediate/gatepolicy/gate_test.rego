package etcdaudit.gate_test

import data.etcdaudit.gate

member(name) := {"name": name, "reachable": true, "healthy": true, "learner": false, "alarms": []}

ok_input := {
	"cluster": {"name": "c1", "tier": "small"},
	"action": "upgrade",
	"facts": {"members": [member("a"), member("b"), member("c")]},
	"run": {"pending": [], "clusters_started": 0},
	"options": {"allow_tiers": [], "max_clusters": 0},
}

test_healthy_small_cluster_allowed if {
	gate.decision.decision == "approve" with input as ok_input
}

test_unreachable_member_denied if {
	d := gate.decision with input as object.union(ok_input, {"facts": {"members": [member("a"), member("b"), object.union(member("c"), {"reachable": false})]}})
	d.decision == "deny"
	"member c is unreachable" in d.reasons
}

test_quorum_lost_denied if {
	down := object.union(member("b"), {"reachable": false})
	d := gate.decision with input as object.union(ok_input, {"facts": {"members": [member("a"), down, object.union(member("c"), {"reachable": false})]}})
	"quorum not healthy: 1 of 3 voting members healthy" in d.reasons
}

test_alarm_denied if {
	d := gate.decision with input as object.union(ok_input, {"facts": {"members": [object.union(member("a"), {"alarms": ["NOSPACE"]}), member("b"), member("c")]}})
	"alarm NOSPACE raised on member a" in d.reasons
}

test_large_needs_flag if {
	large := object.union(ok_input, {"cluster": {"name": "big", "tier": "large"}})
	d := gate.decision with input as large
	"tier large needs --allow-tier large" in d.reasons
	gate.decision.decision == "approve" with input as object.union(large, {"options": {"allow_tiers": ["large"]}})
}

test_tier_order if {
	inp := object.union(ok_input, {"cluster": {"name": "m1", "tier": "medium"}, "run": {"pending": [{"name": "s1", "tier": "small"}], "clusters_started": 1}})
	d := gate.decision with input as inp
	"tier medium waits for the small cluster s1 to finish first" in d.reasons
}

test_same_tier_pending_allowed if {
	inp := object.union(ok_input, {"run": {"pending": [{"name": "s2", "tier": "small"}], "clusters_started": 1}})
	gate.decision.decision == "approve" with input as inp
}

test_untiered_is_medium if {
	inp := object.union(ok_input, {"cluster": {"name": "u", "tier": ""}, "run": {"pending": [{"name": "s1", "tier": "small"}], "clusters_started": 0}})
	d := gate.decision with input as inp
	"tier medium waits for the small cluster s1 to finish first" in d.reasons
}

test_maintenance_window if {
	closed := object.union(ok_input, {"cluster": {"name": "c1", "tier": "small", "maintenance_window": {"spec": "Sat 02:00-06:00", "open": false}}})
	d := gate.decision with input as closed
	d.decision == "deny"
	open := object.union(ok_input, {"cluster": {"name": "c1", "tier": "small", "maintenance_window": {"spec": "Sat 02:00-06:00", "open": true}}})
	gate.decision.decision == "approve" with input as open
}

test_max_clusters if {
	inp := object.union(ok_input, {"options": {"max_clusters": 2}, "run": {"pending": [], "clusters_started": 2}})
	d := gate.decision with input as inp
	"--max-clusters 2 reached" in d.reasons
	gate.decision.decision == "approve" with input as object.union(inp, {"run": {"pending": [], "clusters_started": 1}})
}

test_learner_not_counted_for_quorum if {
	learner := object.union(member("l"), {"learner": true, "healthy": false})
	d := gate.decision with input as object.union(ok_input, {"facts": {"members": [member("a"), learner]}})
	not "quorum not healthy: 1 of 1 voting members healthy" in d.reasons
}

test_default_never_auto if {
	every inp in [ok_input, object.union(ok_input, {"mode": "serve", "approver": ""}), object.union(ok_input, {"action": "attach-event-leases", "mode": "serve"})] {
		gate.decision.decision != "auto" with input as inp
	}
}

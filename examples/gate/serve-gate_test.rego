package etcdaudit.gate_test

import data.etcdaudit.gate

member(name) := {"name": name, "reachable": true, "healthy": true, "learner": false, "alarms": []}

cluster(name, tier, open) := {"name": name, "tier": tier, "labels": {"tier": tier}, "maintenance_window": {"spec": "01:00-05:00", "open": open}}

serve(c, action) := {
	"cluster": c,
	"action": action,
	"facts": {"members": [member("a"), member("b"), member("c")]},
	"run": {"pending": [], "clusters_started": 0},
	"options": {"allow_tiers": [], "max_clusters": 0},
	"mode": "serve",
	"approver": "",
}

test_leases_on_small_in_window_auto if {
	d := gate.decision with input as serve(cluster("s", "small", true), "attach-event-leases")
	d.decision == "auto"
	d.reasons == ["attach-event-leases on small cluster s inside its maintenance window 01:00-05:00"]
}

test_leases_on_small_outside_window_approve if {
	d := gate.decision with input as serve(cluster("s", "small", false), "attach-event-leases")
	d.decision == "approve"
	d.reasons == ["outside the maintenance window 01:00-05:00: a person approves it"]
}

test_leases_on_small_without_window_approve if {
	d := gate.decision with input as serve({"name": "s", "tier": "small"}, "attach-event-leases")
	d.decision == "approve"
}

test_leases_on_medium_approve if {
	d := gate.decision with input as serve(cluster("m", "medium", true), "attach-event-leases")
	d.decision == "approve"
	d.reasons == ["attach-event-leases runs by itself only on small clusters (this one is medium): a person approves it"]
}

test_upgrades_and_migrations_approve if {
	every a in ["upgrade", "migrate-v2-to-v3", "switch-backend", "cleanup-v2"] {
		d := gate.decision with input as serve(cluster("s", "small", true), a)
		d.decision == "approve"
		d.reasons == [sprintf("%s changes etcd's binaries or data layout: a person approves it", [a])]
	}
}

test_large_denied_without_person if {
	every a in ["upgrade", "attach-event-leases"] {
		d := gate.decision with input as serve(cluster("l", "large", true), a)
		d.decision == "deny"
		d.reasons == ["tier large: l is not remediated without a person (run etcdaudit remediate apply by hand)"]
	}
}

test_large_with_person_approve if {
	approved := object.union(serve(cluster("l", "large", true), "upgrade"), {"approver": "alice"})
	gate.decision.decision == "approve" with input as approved
	by_hand := object.union(serve(cluster("l", "large", true), "upgrade"), {"mode": "apply"})
	gate.decision.decision == "approve" with input as by_hand
}

test_unhealthy_denied_even_when_auto if {
	inp := object.union(serve(cluster("s", "small", true), "attach-event-leases"), {"facts": {"members": [member("a"), member("b"), object.union(member("c"), {"reachable": false})]}})
	d := gate.decision with input as inp
	d.decision == "deny"
	d.reasons == ["member c is unreachable"]
}

test_alarm_denied if {
	inp := object.union(serve(cluster("s", "small", true), "attach-event-leases"), {"facts": {"members": [object.union(member("a"), {"alarms": ["NOSPACE"]}), member("b")]}})
	d := gate.decision with input as inp
	"alarm NOSPACE raised on member a" in d.reasons
}

test_untiered_is_medium if {
	d := gate.decision with input as serve({"name": "u", "tier": "", "maintenance_window": {"spec": "01:00-05:00", "open": true}}, "attach-event-leases")
	d.decision == "approve"
}

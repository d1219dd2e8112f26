import json, copy
IDS = ["8e9e05c52164694d", "91bc3c398fb3c146", "fd422379fda50e48"]
T0 = "2026-11-26T02:00:00Z"; T1 = "2026-11-26T02:00:04.512Z"
ALL = ["version","status","alarms","health","member_list","v2","v2_count","v3","backend","security","consistency","hashkv","event_leases"]

def run(name, state="ok", detail=None, ms=3.2):
    r = {"collector": name, "state": state, "duration_ms": ms}
    if detail: r["detail"] = detail
    return r

def member(i, ver, clusterver, v2, v3, backend, v3api=True, hashkv=True, v2_enabled=True):
    name = f"etcd-{i}"
    ep = f"https://10.1.0.1{i}:2379"
    m = {"name": name, "id": IDS[i], "endpoint": ep, "client_urls": [ep], "peer_urls": [f"https://10.1.0.1{i}:2380"],
         "is_learner": False, "started": True, "reachable": True,
         "version": {"server": ver, "cluster": clusterver}}
    runs = [run("version")]
    sec = {"scheme": "https", "tls_version": "TLS 1.2", "cert_not_after": "2027-06-30T00:00:00Z", "cert_days_left": 215.9,
           "cert_sans": [f"etcd-{i}.westus2.internal", f"10.1.0.1{i}"], "cert_subject": f"CN=etcd-{i}", "client_cert_required": True}
    unsup = "not supported by this server: etcd %s serves no v3 gRPC API" % ver
    if v3api:
        leader = IDS[0]
        m["status"] = {"db_size": 24576 if not v3 else 41943040, "db_size_in_use": 0, "leader": leader, "raft_term": 7,
                       "raft_index": 182340 + i, "raft_applied_index": 182340 + i, "is_learner": False, "revision": 1 if not v3 else 98211}
        m["alarms"] = {"alarms": []}
        m["health"] = {"healthy": True, "leader_present": True, "read_ms": 1.8}
        m["member_list"] = {"members": [{"id": IDS[j], "name": f"etcd-{j}", "peer_urls": [f"https://10.1.0.1{j}:2380"], "client_urls": [f"https://10.1.0.1{j}:2379"], "is_learner": False} for j in range(3)]}
        m["v3"] = v3
        sec["auth_enabled"] = False
        runs += [run("status"), run("alarms"), run("health"), run("member_list")]
    else:
        runs += [run(c, "unsupported", unsup) for c in ("status", "alarms", "health", "member_list")]
    m["v2"] = v2
    runs += [run("v2"), run("v2_count", ms=420.5) if v2.get("counted") else run("v2_count", "skipped", "v2 API disabled")]
    if v3api:
        runs.append(run("v3", ms=85.0))
    else:
        runs.append(run("v3", "unsupported", unsup))
    m["backend"] = {"observed": backend}
    runs += [run("backend", ms=0.0), run("security", ms=12.4)]
    m["security"] = sec
    m["runs"] = runs
    return m

def cluster(name, members, declared, v3api, hashkv, leases):
    c = {"name": name, "labels": {"region": "westus2", "tier": "medium"}, "declared_backend": declared,
         "endpoints": [m["endpoint"] for m in members], "members": members}
    runs = []
    if v3api:
        idx = [m["status"]["raft_applied_index"] for m in members]
        c["consistency"] = {"member_lists_agree": True, "leaders_agree": True, "leaders": [IDS[0]],
            "raft_index_min": min(idx), "raft_index_max": max(idx), "raft_index_spread": max(idx) - min(idx),
            "applied_index_min": min(idx), "applied_index_max": max(idx), "applied_index_spread": max(idx) - min(idx),
            "members_compared": 3, "voting_members": 3, "learners": 0, "unstarted": 0}
        runs.append(run("consistency", ms=0.0))
    else:
        runs.append(run("consistency", "skipped", "no member status: etcd 2.x serves no v3 API"))
    if hashkv:
        c["hashkv"] = {"revision": 98211, "compact_revision": 97000, "hashes": {"etcd-0": 3162143437, "etcd-1": 3162143437, "etcd-2": 3162143437}, "agree": True, "members_compared": 3}
        runs.append(run("hashkv", ms=230.1))
    else:
        runs.append(run("hashkv", "unsupported", "not supported by this server: HashKV needs etcd 3.3+"))
    if leases is None:
        runs.append(run("event_leases", "unsupported", "not supported by this server: no v3 API"))
    else:
        c["event_leases"] = leases
        runs.append(run("event_leases", ms=310.7))
    c["runs"] = runs
    return c

def facts(inv, clusters):
    return {"schema": "etcdaudit.facts/v1", "tool_version": "v0.1.0", "inventory": inv, "profile": "full",
            "collectors": ALL, "started_at": T0, "finished_at": T1, "clusters": clusters}

v2_k8s = {"enabled": True, "counted": True, "keys": 5200, "dirs": 310, "ttl_keys": 800, "registry_present": True, "registry_keys": 5200,
          "sample_keys": ["/registry/events/default/nginx-7c5d8.15a2b3c4d5e6f708", "/registry/minions/k8s-agent-1", "/registry/pods/kube-system/kube-dns-v20-x7k2p"]}
v2_empty = {"enabled": True, "counted": True, "keys": 0, "dirs": 0, "ttl_keys": 0, "registry_present": False, "registry_keys": 0}
v2_off = {"enabled": False, "counted": False, "keys": 0, "dirs": 0, "ttl_keys": 0, "registry_present": False, "registry_keys": 0}
v3_none = {"keys": 0, "registry_keys": 0, "registry_present": False, "revision": 1}
v3_k8s = {"keys": 5200, "registry_keys": 5200, "registry_present": True, "revision": 98211, "compact_revision": 97000}
no_leases = {"prefix": "/registry/events/", "revision": 98211, "keys": 800, "leased": 0, "unleased": 800, "ratio": 0,
             "sample_no_lease": ["/registry/events/default/nginx-7c5d8.15a2b3c4d5e6f708", "/registry/events/kube-system/kube-dns-v20-x7k2p.15a2b3c4d5e6f711"],
             "leases": 0, "method": "full-kv"}
all_leases = {"prefix": "/registry/events/", "revision": 98211, "keys": 812, "leased": 812, "unleased": 0, "ratio": 1,
              "ttl_buckets": {"<=10m": 120, "<=1h": 692}, "leases": 14, "method": "full-kv"}
empty_leases = {"prefix": "/registry/events/", "revision": 1, "keys": 0, "leased": 0, "unleased": 0, "ratio": 1, "leases": 0, "method": "full-kv"}

stages = {
  "seed-2.2": ("2.2.5", "2.2.0", v2_k8s, None, "etcd2", False, False, "etcd2", None),
  "seed-2.3": ("2.3.8", "2.3.0", v2_k8s, None, "etcd2", False, False, "etcd2", None),
  "seed-3.0": ("3.0.17", "3.0.0", v2_k8s, v3_none, "etcd2", True, False, "etcd2", empty_leases),
  "seed-3.1": ("3.1.20", "3.1.0", v2_empty, v3_k8s, "etcd3", True, False, "etcd3", no_leases),
  "seed-3.2": ("3.2.32", "3.2.0", v2_off, v3_k8s, "etcd3", True, False, "etcd3", all_leases),
}
for fname, (ver, cv, v2, v3, backend, v3api, hashkv, declared, leases) in stages.items():
    ms = [member(i, ver, cv, copy.deepcopy(v2), copy.deepcopy(v3), backend, v3api, hashkv) for i in range(3)]
    f = facts("seed-westus2", [cluster("k8s-westus2-test", ms, declared, v3api, hashkv, leases)])
    with open(f"{fname}.json", "w") as fh:
        json.dump(f, fh, indent=2); fh.write("\n")

#!/usr/bin/env bash
# Collector benchmarks (issue 3), side by side with what an operator or a
# quick script does today, on real etcd servers started here and stopped on
# exit. Prints the figures docs/performance.md holds.
#
#   1. leases: lease coverage of BENCH_KEYS (default 1,000,000) events keys,
#      half leased, on one etcd 3.5 server, then on one 3.7 server:
#      `etcdaudit facts --collectors version,event_leases` vs a plain clientv3
#      keys-only pager (page 10,000, pinned revision) vs
#      `etcdctl get --prefix --keys-only -w json | jq`; peak RSS by /usr/bin/time -v.
#      Then the default scan (`etcdaudit scan`, profile standard: every fact
#      the bundled controls judge except HashKV) of the same server.
#   2. fleet: quick-profile facts on 60 single-member + 10 three-member
#      clusters (90 etcd 3.5 processes, --enable-v2) vs the sequential loop of
#      etcdctl endpoint status / endpoint health / get --from-key --limit 1 /
#      ETCDCTL_API=2 ls -r per endpoint; and how etcdaudit's time grows with
#      10, 30, 60 and 90 members.
#   3. fleet-default: on the same fleet (each cluster also holds 20 events
#      keys, half leased), the default scan vs an etcdctl loop computing the
#      same data facts: per member the v2 key count (ETCDCTL_API=2 ls -r) and
#      the v3 count, per cluster the leased and unleased events keys
#      (get --prefix --keys-only -w json | jq); printed as a ratio.
#   4. leases-default: only the default scan of part 1's server (seeded the
#      same way), and the lease coverage alone in the same run for scale,
#      without part 1's other measures.
#
# BENCH_PARTS=leases,fleet,fleet-default picks parts (the default is all
# three; leases-default is the short form of leases); BENCH_KEYS,
# BENCH_VERSIONS (default "3.5.35 3.7.3") shrink a run. Seeding a million keys takes about a minute
# per server on two cores: run it when the numbers are needed, not in a loop.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ETCD_DIR=${ETCDAUDIT_ETCD_DIR:-$ROOT/.cache/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
PARTS=${BENCH_PARTS:-leases,fleet,fleet-default}
KEYS=${BENCH_KEYS:-1000000}
VERSIONS=${BENCH_VERSIONS:-3.5.35 3.7.3}
WORK=$(mktemp -d /tmp/etcdaudit-bench.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$ETCDCTL" jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (make deps)" >&2; exit 1; }
done
mkdir -p bin
go build -o bin/etcdaudit ./cmd/etcdaudit
go test -c -o "$WORK/collectors.test" ./collectors
BIN=$ROOT/bin/etcdaudit

# free_ports N prints N free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start_member NAME VERSION CLIENT_PORT PEER_PORT INITIAL_CLUSTER TOKEN [flags...]
start_member() {
  local name=$1 version=$2 cport=$3 pport=$4 initial=$5 token=$6
  shift 6
  local bin="$ETCD_DIR/v$version/etcd"
  [ -x "$bin" ] || { echo "bench: $bin missing (make etcd-binaries)" >&2; exit 1; }
  mkdir -p "$WORK/$name"
  "$bin" --name "$name" --data-dir "$WORK/$name/data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$initial" --initial-cluster-token "$token" --initial-cluster-state new \
    --log-level error --unsafe-no-fsync "$@" >"$WORK/$name/log" 2>&1 &
  PIDS+=($!)
}

# wait_ready ENDPOINT...: v3 Status until it answers (never GET /health,
# which writes to the raft log on these versions with --enable-v2).
wait_ready() {
  local ep
  for ep in "$@"; do
    for _ in $(seq 1 200); do
      if ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" --command-timeout 1s endpoint status >/dev/null 2>&1; then continue 2; fi
      sleep 0.1
    done
    echo "bench: $ep never became ready" >&2
    exit 1
  done
}

# timed LABEL CMD...: runs CMD under /usr/bin/time -v; prints wall seconds
# and peak RSS (MB) and keeps CMD's stdout in $WORK/out.
timed() {
  local label=$1
  shift
  /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || { echo "bench: $label failed:" >&2; cat "$WORK/err" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$WORK/time")
  LAST_WALL=$wall
  LAST_RSS=$rss
  printf '  %-46s %8.2f s  peak RSS %7s MB\n' "$label" "$wall" "$rss"
}

# scan_ok CMD...: runs an etcdaudit scan; exit 100 (controls failed) is a
# finished scan, only 1 (the tool failed) is an error.
scan_ok() {
  local rc=0
  "$@" || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 100 ]
}
export -f scan_ok

# scan_summary JSON: the verdicts a default scan reached on the facts the
# etcdctl loop computes, so the two columns are seen to agree.
scan_summary() {
  jq -r '[.results[] | select(.control == "ETCD-V2-001" or .control == "ETCD-K8S-004")] | group_by(.control)[] |
    "    \(.[0].control): " + (group_by(.status) | map("\(length) \(.[0].status)") | join(", "))' "$1"
  jq -r '"    facts: profile \(.facts.profile), \([.facts.clusters[].members[] | select(.v2.counted)] | length) members with v2 counted (\([.facts.clusters[].members[].v2.keys // 0] | add) keys), \([.facts.clusters[] | select(.event_leases)] | length) clusters with events lease coverage (\([.facts.clusters[].event_leases.unleased // 0] | add) unleased)"' "$1"
  jq -r '"    slowest run per collector (ms): " + ([.facts.clusters[] | (.runs[], .members[].runs[])] | group_by(.collector) |
    map("\(.[0].collector) \(map(.duration_ms) | max | floor)") | join(", ")) +
    ([.facts.clusters[].event_leases.method // empty] | unique | if length > 0 then "; lease method " + join(",") else "" end)' "$1"
}

# default_scan LABEL ARGS...: best of three default scans, in $LAST_BEST.
default_scan() {
  local label=$1 best=999999 rss=0
  shift
  for rep in 1 2 3; do
    timed "$label" bash -c 'scan_ok "$@"' _ "$BIN" scan "$@" --report "json:$WORK/scan.json" --include-facts
    best=$(echo "$best $LAST_WALL" | awk '{print ($2<$1)?$2:$1}'); rss=$(echo "$rss $LAST_RSS" | awk '{print ($2>$1)?$2:$1}')
  done
  scan_summary "$WORK/scan.json"
  LAST_BEST=$best
  LAST_BEST_RSS=$rss
}

bench_leases() {
  local version=$1 only_default=${2:-}
  read -r cport pport < <(free_ports 2)
  local name="lease-$version" ep="http://127.0.0.1:$cport"
  start_member "$name" "$version" "$cport" "$pport" "$name=http://127.0.0.1:$pport" "$name" --quota-backend-bytes 8589934592
  local pid=${PIDS[-1]}
  wait_ready "$ep"
  echo "== lease coverage, etcd $version, $KEYS events keys (half leased, 1,000 keys a lease)"
  timed "seed (TestBenchSeedEvents)" env ETCDAUDIT_BENCH_ENDPOINT="$ep" ETCDAUDIT_BENCH_KEYS="$KEYS" \
    "$WORK/collectors.test" -test.run '^TestBenchSeedEvents$' -test.v
  grep -h seeded "$WORK/out" | sed 's/^/    /'
  if [ -z "$only_default" ]; then
  local best_a=999999 best_p=999999 rss_a=0
  for rep in 1 2; do
    timed "etcdaudit facts --collectors version,event_leases" "$BIN" facts --endpoints "$ep" \
      --collectors version,event_leases --timeout 10m -o "$WORK/facts.json"
    best_a=$(echo "$best_a $LAST_WALL" | awk '{print ($2<$1)?$2:$1}'); rss_a=$(echo "$rss_a $LAST_RSS" | awk '{print ($2>$1)?$2:$1}')
    jq -r '.clusters[0].event_leases | "    etcdaudit: \(.keys) keys, \(.leased) leased, \(.unleased) unleased, \(.leases) leases, method \(.method)"' "$WORK/facts.json"
    timed "clientv3 keys-only pager (page 10,000)" env ETCDAUDIT_BENCH_ENDPOINT="$ep" \
      "$WORK/collectors.test" -test.run '^TestBenchKeysOnlyPager$' -test.v
    best_p=$(echo "$best_p $LAST_WALL" | awk '{print ($2<$1)?$2:$1}')
    grep -h '^pager:' "$WORK/out" | sed 's/^/    /'
  done
  timed "etcdaudit ... --lease-walk (the busy-cluster fallback)" "$BIN" facts --endpoints "$ep" \
    --collectors version,event_leases --lease-walk --timeout 10m -o "$WORK/facts.json"
  local walk=$LAST_WALL walk_rss=$LAST_RSS
  jq -r '.clusters[0].event_leases | "    etcdaudit --lease-walk: \(.keys) keys, \(.leased) leased, method \(.method)"' "$WORK/facts.json"
  timed "etcdctl get --keys-only -w json | jq" bash -c \
    "ETCDCTL_API=3 '$ETCDCTL' --endpoints '$ep' --command-timeout 10m get /registry/events/ --prefix --keys-only -w json | jq '[.kvs[] | select(.lease)] | length'"
  echo "    etcdctl+jq leased count: $(cat "$WORK/out")"
  echo "  RESULT leases etcd $version: etcdaudit ${best_a}s (peak RSS ${rss_a} MB), --lease-walk ${walk}s (${walk_rss} MB), pager ${best_p}s, etcdctl+jq ${LAST_WALL}s"
  fi
  default_scan "etcdaudit scan (default profile)" --endpoints "$ep" --timeout 10m
  local scan=$LAST_BEST scan_rss=$LAST_BEST_RSS best_f=999999
  if [ -n "$only_default" ]; then # the same run's lease coverage alone, for scale under this load
    for rep in 1 2 3; do
      timed "etcdaudit facts --collectors version,event_leases" "$BIN" facts --endpoints "$ep" \
        --collectors version,event_leases --timeout 10m -o "$WORK/facts.json"
      best_f=$(echo "$best_f $LAST_WALL" | awk '{print ($2<$1)?$2:$1}')
    done
    echo "  RESULT leases etcd $version: default scan ${scan}s (peak RSS ${scan_rss} MB), lease coverage alone ${best_f}s"
  else
    echo "  RESULT leases etcd $version: default scan ${scan}s (peak RSS ${scan_rss} MB)"
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$WORK/$name"
}

# fleet_setup starts the 90-member fleet and writes its inventories
# ($WORK/fleet-{10,30,60,all}.yaml); sets endpoints and clusters.
fleet_setup() {
  echo "== fleet: 60 single-member + 10 three-member clusters (etcd 3.5.35, --enable-v2)"
  local ports i j
  read -r -a ports < <(free_ports 180)
  local p=0 yaml="$WORK/fleet-all.yaml"
  : >"$WORK/endpoints"
  clusters=() # global: the later parts read it
  for i in $(seq 1 60); do
    local n="s$i" c=${ports[p]} q=${ports[p+1]}
    p=$((p + 2))
    start_member "$n" 3.5.35 "$c" "$q" "$n=http://127.0.0.1:$q" "$n" --enable-v2
    clusters+=("$n http://127.0.0.1:$c")
    echo "http://127.0.0.1:$c" >>"$WORK/endpoints"
  done
  for i in $(seq 1 10); do
    local initial="" eps=""
    for j in 1 2 3; do
      initial+="t$i-$j=http://127.0.0.1:${ports[p + 2*j - 1]},"
    done
    initial=${initial%,}
    for j in 1 2 3; do
      local c=${ports[p + 2*j - 2]} q=${ports[p + 2*j - 1]}
      start_member "t$i-$j" 3.5.35 "$c" "$q" "$initial" "t$i" --enable-v2
      eps+="http://127.0.0.1:$c,"
      echo "http://127.0.0.1:$c" >>"$WORK/endpoints"
    done
    p=$((p + 6))
    clusters+=("t$i ${eps%,}")
  done
  mapfile -t endpoints <"$WORK/endpoints"
  wait_ready "${endpoints[@]}"
  # A little data in every cluster, v3 and v2, so every command has work.
  for entry in "${clusters[@]}"; do
    local ep=${entry#* }
    ep=${ep%%,*}
    for k in 1 2 3; do
      ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" put "/registry/pods/default/p$k" v >/dev/null
      ETCDCTL_API=2 "$ETCDCTL" --endpoints "$ep" set "/app/k$k" v >/dev/null
    done
    # 20 events keys, 10 on a lease, so the lease coverage has work.
    ETCDAUDIT_BENCH_ENDPOINT="$ep" ETCDAUDIT_BENCH_KEYS=20 \
      "$WORK/collectors.test" -test.run '^TestBenchSeedEvents$' >/dev/null
  done
  write_fleet() { # write_fleet FILE N_SINGLE N_TRIPLE
    local f=$1 e
    { echo "name: bench"; echo "clusters:"
      for e in "${clusters[@]:0:$2}" ${3:+"${clusters[@]:60:$3}"}; do
        echo "  - name: ${e%% *}"
        echo "    endpoints: [${e#* }]"
      done; } >"$f"
  }
  write_fleet "$WORK/fleet-10.yaml" 10 ""
  write_fleet "$WORK/fleet-30.yaml" 30 ""
  write_fleet "$WORK/fleet-60.yaml" 60 ""
  write_fleet "$yaml" 60 10
}

bench_fleet() {
  echo "== fleet facts, quick profile"
  local yaml="$WORK/fleet-all.yaml"
  if [ -n "${BENCH_FLEET_CMD:-}" ]; then # profiling hook: run a command on the live fleet, then stop
    WORK=$WORK bash -c "$BENCH_FLEET_CMD" _ "$yaml"
    return
  fi
  local size best conc
  # Default concurrency (64, sized for real fleets where network round trips
  # dominate) and 4: here all 90 servers share two cores with the auditor,
  # so fewer requests in flight contend less.
  for conc in 64 4; do
  for size in 10 30 60 all; do
    best=999999
    for rep in 1 2 3; do
      timed "etcdaudit facts --profile quick --concurrency $conc ($size)" "$BIN" facts -f "$WORK/fleet-$size.yaml" --profile quick --concurrency "$conc" -o "$WORK/facts.json"
      best=$(echo "$best $LAST_WALL" | awk '{print ($2<$1)?$2:$1}')
    done
    jq -r '"    \([.clusters[].members[]] | length) members, \([.clusters[].members[] | select(.reachable)] | length) reachable, \([.clusters[] | .errors // [] | length] + [.clusters[].members[] | .errors // [] | length] | add) errors"' "$WORK/facts.json"
    echo "  RESULT fleet etcdaudit concurrency $conc, $size: ${best}s"
    if [ -n "${BENCH_KEEP:-}" ]; then cp "$WORK/facts.json" "$BENCH_KEEP/fleet-$size.facts.json"; fi
  done
  done
  loop() { # the operator's sequential loop over the first N endpoints
    local ep
    for ep in "${endpoints[@]:0:$1}"; do
      ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" endpoint status
      ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" endpoint health
      ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" get "" --from-key --keys-only --limit 1 -w json | jq .count
      ETCDCTL_API=2 "$ETCDCTL" --endpoints "$ep" ls -r
    done
  }
  export -f loop
  export ETCDCTL
  timed "sequential etcdctl loop (10 members)" bash -c "$(declare -p endpoints); $(declare -f loop); loop 10"
  echo "  RESULT fleet etcdctl-loop 10: ${LAST_WALL}s"
  timed "sequential etcdctl loop (90 members)" bash -c "$(declare -p endpoints); $(declare -f loop); loop 90"
  echo "  RESULT fleet etcdctl-loop 90: ${LAST_WALL}s"
}

# bench_fleet_default: the default scan of the whole fleet vs the etcdctl
# loop computing the same data facts (v2 and v3 counts per member, leased
# and unleased events per cluster), as a ratio.
bench_fleet_default() {
  echo "== fleet, default scan (profile standard) vs an etcdctl loop computing the same data facts"
  default_scan "etcdaudit scan (default profile, 90 members)" -f "$WORK/fleet-all.yaml"
  local scan=$LAST_BEST scan_rss=$LAST_BEST_RSS
  data_loop() { # per member: v2 keys+dirs, v3 count; per cluster: events leased/unleased
    local entry list ep first v2 v3 ev
    for entry in "${clusters[@]}"; do
      first="" list=${entry#* }
      for ep in ${list//,/ }; do
        first=${first:-$ep}
        v2=$(ETCDCTL_API=2 "$ETCDCTL" --endpoints "$ep" ls -r / | wc -l)
        v3=$(ETCDCTL_API=3 "$ETCDCTL" --endpoints "$ep" get "" --from-key --keys-only --limit 1 -w json | jq .count)
        echo "member $ep v2 $v2 v3 $v3"
      done
      ev=$(ETCDCTL_API=3 "$ETCDCTL" --endpoints "$first" get /registry/events/ --prefix --keys-only -w json |
        jq -r '"\(.count) keys, \([.kvs[]? | select(.lease)] | length) leased"')
      echo "cluster ${entry%% *} events $ev"
    done
  }
  local best=999999
  for rep in 1 2 3; do
    timed "etcdctl loop: v2/v3 counts, leased events" bash -c "set -euo pipefail; ETCDCTL='$ETCDCTL'; $(declare -p clusters); $(declare -f data_loop); data_loop"
    best=$(echo "$best $LAST_WALL" | awk '{print ($2<$1)?$2:$1}')
  done
  awk '/^member/ {m++; v2+=$4; v3+=$6} /^cluster/ {c++; k+=$4; l+=$6} END {printf "    etcdctl loop: %d members (%d v2 nodes, %d v3 keys), %d clusters (%d events keys, %d leased)\n", m, v2, v3, c, k, l}' "$WORK/out"
  echo "  RESULT fleet default scan ${scan}s (peak RSS ${scan_rss} MB), etcdctl data loop ${best}s, ratio loop/scan $(echo "$best $scan" | awk '{printf "%.1f", $1/$2}')"
}

echo "machine: $(nproc) cores, $(go version | awk '{print $3}'), $(date -u +%FT%TZ)"
if [[ ,$PARTS, == *,leases,* ]]; then
  for v in $VERSIONS; do bench_leases "$v"; done
elif [[ ,$PARTS, == *,leases-default,* ]]; then
  for v in $VERSIONS; do bench_leases "$v" only-default; done
fi
if [[ ,$PARTS, == *,fleet,* || ,$PARTS, == *,fleet-default,* ]]; then
  fleet_setup
fi
if [[ ,$PARTS, == *,fleet,* ]]; then
  bench_fleet
fi
if [[ ,$PARTS, == *,fleet-default,* ]]; then
  bench_fleet_default
fi

#!/usr/bin/env bash
# Policy engine in a real scan: a small real fleet (6 single-member + 1 three-member
# etcd 3.5.35 clusters, 9 members, --enable-v2), then each given command (e.g.
# "bin/etcdaudit scan" "bin/etcdaudit scan --no-optimize") run N (default 3) times on it;
# prints the min CPU (user+sys) and wall seconds. Servers are stopped on exit.
#   scripts/bench/scan-engine.sh "bin/etcdaudit scan" "bin/etcdaudit scan --no-optimize"
set -uo pipefail
cd "$(dirname "$0")/../.."
ETCD=${ETCDAUDIT_ETCD_DIR:-$PWD/.cache/etcd}/v3.5.35/etcd
WORK=$(mktemp -d /tmp/etcdaudit-scan-engine.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ports=($(python3 -c 'import socket
s=[socket.socket() for _ in range(18)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))'))
start() { # name cport pport initial token
  "$ETCD" --name "$1" --data-dir "$WORK/$1" --listen-client-urls "http://127.0.0.1:$2" --advertise-client-urls "http://127.0.0.1:$2" \
    --listen-peer-urls "http://127.0.0.1:$3" --initial-advertise-peer-urls "http://127.0.0.1:$3" --initial-cluster "$4" \
    --initial-cluster-token "$5" --initial-cluster-state new --log-level error --unsafe-no-fsync --enable-v2 >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
echo "name: scanbench" > "$WORK/fleet.yaml"; echo "clusters:" >> "$WORK/fleet.yaml"
p=0
for i in 1 2 3 4 5 6; do
  c=${ports[p]} q=${ports[p+1]}; p=$((p+2))
  start "s$i" "$c" "$q" "s$i=http://127.0.0.1:$q" "s$i"
  printf '  - name: s%s\n    endpoints: [http://127.0.0.1:%s]\n' "$i" "$c" >> "$WORK/fleet.yaml"
done
init="t-1=http://127.0.0.1:${ports[p+1]},t-2=http://127.0.0.1:${ports[p+3]},t-3=http://127.0.0.1:${ports[p+5]}"
eps=""
for j in 1 2 3; do
  c=${ports[p]} q=${ports[p+1]}; p=$((p+2))
  start "t-$j" "$c" "$q" "$init" t
  eps+="http://127.0.0.1:$c,"
done
printf '  - name: t\n    endpoints: [%s]\n' "${eps%,}" >> "$WORK/fleet.yaml"
sleep 5
BIN0=$1; shift
$BIN0 -f "$WORK/fleet.yaml" --report "json:$WORK/warm.json" >/dev/null 2>&1 || true
jq -r '"members: \([.facts.clusters[].members[]] | length), reachable: \([.facts.clusters[].members[] | select(.reachable)] | length)"' "$WORK/warm.json" 2>/dev/null || true
N=${N:-3}
for spec in "$BIN0" "$@"; do
  best=""
  for _ in $(seq 1 "$N"); do
    t=$( { /usr/bin/time -o "$WORK/time" -f "%U %S %e" $spec -f "$WORK/fleet.yaml" --report "json:$WORK/r.json" >/dev/null 2>&1; }; awk 'NF==3 {printf "%.2f %.2f", $1+$2, $3}' "$WORK/time")
    best=$(printf '%s\n%s\n' "$best" "$t" | awk 'NF==2' | sort -n | head -1)
  done
  printf '%-50s %s\n' "$spec" "$(echo "$best" | awk '{printf "%6.2f cpu-s  %6.2f s wall", $1, $2}')"
done

#!/usr/bin/env bash
# Data-action benchmarks (issue 11), each side by side with the plain way on
# one etcd 3.5 server started here (--enable-v2, --unsafe-no-fsync) and
# stopped on exit. Every step is its own process under /usr/bin/time -v, so
# its peak RSS is the library's (remediate/v2data, remediate/leases) plus a
# test binary's. Prints the figures docs/remediation.md holds.
#
#   1. copy: BENCH_V2_KEYS (default 100,000) v2 keys, a tenth with a TTL, in
#      100 directories: plain batched-txn write of as many keys into v3
#      (128 puts a txn, 4 in flight) vs v2data.Copy (reads v2 directory by
#      directory, guarded puts, TTL keys on bucketed leases); then VerifyCopy.
#   2. leases: BENCH_KEYS (default 1,000,000) unleased events keys:
#      leases.Attach (full key-value pages, guarded re-puts with
#      ignore_value) vs a plain batched re-put of every key with one lease
#      (Kubernetes' first attachlease, no compares).
#
# BENCH_PARTS=copy,leases picks parts.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ETCD_DIR=${ETCDAUDIT_ETCD_DIR:-$ROOT/.cache/etcd}
PARTS=${BENCH_PARTS:-copy,leases}
V2_KEYS=${BENCH_V2_KEYS:-100000}
KEYS=${BENCH_KEYS:-1000000}
VERSION=3.5.35
WORK=$(mktemp -d /tmp/etcdaudit-bench.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time not found (make deps)" >&2; exit 1; }
go test -c -o "$WORK/v2data.test" ./remediate/v2data
go test -c -o "$WORK/leases.test" ./remediate/leases

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# start_server NAME: one 3.5 member serving v2 too; sets EP and SERVER_PID.
start_server() {
  local name=$1 bin="$ETCD_DIR/v$VERSION/etcd" cport pport
  [ -x "$bin" ] || { echo "bench: $bin missing (make etcd-binaries)" >&2; exit 1; }
  read -r cport pport < <(free_ports 2)
  mkdir -p "$WORK/$name"
  "$bin" --name "$name" --data-dir "$WORK/$name/data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$name=http://127.0.0.1:$pport" --initial-cluster-token "$name" \
    --log-level error --unsafe-no-fsync --enable-v2 --quota-backend-bytes 8589934592 >"$WORK/$name/log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  EP="http://127.0.0.1:$cport"
  for _ in $(seq 1 200); do
    if curl -sf "$EP/version" >/dev/null; then return; fi
    sleep 0.1
  done
  echo "bench: $EP never answered" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
}

# timed LABEL BINARY TEST: runs one TestBench step under /usr/bin/time -v.
timed() {
  local label=$1 bin=$2 test=$3
  /usr/bin/time -v -o "$WORK/time" env ETCDAUDIT_BENCH_ENDPOINT="$EP" ETCDAUDIT_BENCH_KEYS="$KEYS" \
    ETCDAUDIT_BENCH_V2_KEYS="$V2_KEYS" "$bin" -test.run "^$test\$" -test.v >"$WORK/out" 2>&1 \
    || { echo "bench: $label failed:" >&2; tail -20 "$WORK/out" >&2; exit 1; }
  LAST_WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time")
  LAST_RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$WORK/time")
  printf '  %-44s %8.2f s  peak RSS %7s MB\n' "$label" "$LAST_WALL" "$LAST_RSS"
  grep -hE '^(seeded|plain|copy|verify|attach)' "$WORK/out" | sed 's/^/    /'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

bench_copy() {
  start_server copy
  echo "== v2 -> v3 copy, etcd $VERSION, $V2_KEYS v2 keys"
  timed "seed v2 (TestBenchSeedV2)" "$WORK/v2data.test" TestBenchSeedV2
  timed "plain batched-txn write" "$WORK/v2data.test" TestBenchPlainTxnWrite
  local plain=$LAST_WALL
  timed "v2data.Copy" "$WORK/v2data.test" TestBenchCopy
  local copy=$LAST_WALL copy_rss=$LAST_RSS
  timed "v2data.VerifyCopy" "$WORK/v2data.test" TestBenchVerifyCopy
  echo "  RESULT copy: v2data.Copy ${copy}s (peak RSS ${copy_rss} MB), plain txn write ${plain}s, ratio $(ratio "$copy" "$plain") (goal <= 1.5); verify ${LAST_WALL}s (${LAST_RSS} MB)"
  stop_server
}

bench_leases() {
  start_server leases
  echo "== attach event leases, etcd $VERSION, $KEYS unleased events keys"
  timed "seed (TestBenchSeedUnleased)" "$WORK/leases.test" TestBenchSeedUnleased
  timed "leases.Attach" "$WORK/leases.test" TestBenchAttach
  local attach=$LAST_WALL attach_rss=$LAST_RSS
  timed "plain batched re-put, one lease" "$WORK/leases.test" TestBenchPlainReput
  echo "  RESULT leases: leases.Attach ${attach}s (peak RSS ${attach_rss} MB), plain re-put ${LAST_WALL}s (${LAST_RSS} MB), ratio $(ratio "$attach" "$LAST_WALL") (goal <= 1.5)"
  stop_server
}

echo "machine: $(nproc) cores, $(go version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
if [[ ,$PARTS, == *,copy,* ]]; then bench_copy; fi
if [[ ,$PARTS, == *,leases,* ]]; then bench_leases; fi

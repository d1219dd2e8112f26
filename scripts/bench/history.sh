#!/usr/bin/env bash
# History, drift and serve figures (issue 6). Prints the figures
# docs/performance.md holds.
#
#   1. store: 365 nightly scans of a synthetic 1,000-member fleet (334
#      clusters x 3, 20 controls a member) recorded through history.Put;
#      Go benchmarks for drift between two random scans, list, record; then
#      the real CLI on that store: `etcdaudit drift` between the oldest and
#      the newest scan, and `history list`, wall time and peak RSS.
#   2. serve-synthetic: 100 scheduled scans (@every 1s) of the synthetic
#      1,000-member fleet through the whole service (record, drift, trend,
#      /metrics and / after each scan); RSS sampled in-process.
#   3. serve-real: the real `etcdaudit serve` binary scanning a real 3-member
#      etcd 3.5 cluster every second (full profile) for 100 scans; RSS of the
#      process from /proc at scans 10, 25, 50, 75, 100.
#
# BENCH_PARTS=store,serve-synthetic,serve-real picks parts; BENCH_SCANS
# (default 365) and BENCH_SERVE_SCANS (default 100) shrink a run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ETCD_DIR=${ETCDAUDIT_ETCD_DIR:-$ROOT/.cache/etcd}
PARTS=${BENCH_PARTS:-store,serve-synthetic,serve-real}
SCANS=${BENCH_SCANS:-365}
SERVE_SCANS=${BENCH_SERVE_SCANS:-100}
WORK=$(mktemp -d /tmp/etcdaudit-hbench.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

has() { [[ ",$PARTS," == *",$1,"* ]]; }

go build -o "$WORK/etcdaudit" ./cmd/etcdaudit
BIN=$WORK/etcdaudit

if has store; then
  echo "== store: $SCANS scans of a 1,000-member fleet"
  ETCDAUDIT_BENCH_DIR=$WORK/hist ETCDAUDIT_BENCH_SCANS=$SCANS \
    go test ./history -run '^$' -bench . -benchtime 10x -timeout 60m | grep -E 'Benchmark|history|MiB'
  echo "history.db on disk: $(du -h "$WORK/hist/history.db" | cut -f1) (apparent $(du -h --apparent-size "$WORK/hist/history.db" | cut -f1))"
  last=$((SCANS - 1))
  for args in "drift --from latest~$last --to latest -o json" "drift --from latest~1 -o cli" "history list" "history show latest -o json"; do
    /usr/bin/time -q -f "%e s wall, %M KiB max RSS" -o "$WORK/time" \
      "$BIN" $args --state-dir "$WORK/hist" >/dev/null || [[ $? == 100 ]]
    echo "etcdaudit $args: $(cat "$WORK/time")"
  done
fi

if has serve-synthetic; then
  echo "== serve, synthetic 1,000-member fleet, $SERVE_SCANS scheduled scans"
  ETCDAUDIT_BENCH_RSS=1 ETCDAUDIT_BENCH_RSS_SCANS=$SERVE_SCANS \
    go test ./service -run TestServeRSSFlat -v -timeout 60m | grep -E 'after|PASS|FAIL'
fi

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

if has serve-real; then
  ETCD=$ETCD_DIR/v3.5.35/etcd
  [[ -x $ETCD ]] || { echo "bench: $ETCD missing (make etcd-binaries)" >&2; exit 1; }
  echo "== serve binary, real 3-member etcd 3.5.35 cluster, $SERVE_SCANS scans every second"
  declare -a CP PP
  for i in 0 1 2; do CP[$i]=$(freeport); PP[$i]=$(freeport); done
  initial="m0=http://127.0.0.1:${PP[0]},m1=http://127.0.0.1:${PP[1]},m2=http://127.0.0.1:${PP[2]}"
  for i in 0 1 2; do
    "$ETCD" --name m$i --data-dir "$WORK/etcd$i" --listen-client-urls http://127.0.0.1:${CP[$i]} \
      --advertise-client-urls http://127.0.0.1:${CP[$i]} --listen-peer-urls http://127.0.0.1:${PP[$i]} \
      --initial-advertise-peer-urls http://127.0.0.1:${PP[$i]} --initial-cluster "$initial" \
      --initial-cluster-token bench >"$WORK/etcd$i.log" 2>&1 &
    PIDS+=($!)
  done
  eps="http://127.0.0.1:${CP[0]},http://127.0.0.1:${CP[1]},http://127.0.0.1:${CP[2]}"
  for _ in $(seq 100); do ETCDCTL_API=3 /usr/bin/etcdctl --endpoints "$eps" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
  port=$(freeport)
  "$BIN" serve --endpoints "$eps" --cluster-name bench --state-dir "$WORK/serve" --listen 127.0.0.1:$port \
    --schedule "@every 1s" --profile full --keep 30 >"$WORK/serve.log" 2>&1 &
  SERVE=$!
  PIDS+=($SERVE)
  done_scans=0
  start=$(date +%s)
  while (( done_scans < SERVE_SCANS )); do
    sleep 0.5
    done_scans=$(curl -s 127.0.0.1:$port/metrics | awk '/^etcdaudit_scans_total\{outcome="success"\}/ {print int($2)}')
    done_scans=${done_scans:-0}
    for mark in 10 25 50 75 $SERVE_SCANS; do
      if (( done_scans >= mark )) && [[ ! -e $WORK/mark$mark ]]; then
        touch "$WORK/mark$mark"
        echo "after $done_scans scans: RSS $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$SERVE/status)"
      fi
    done
    (( $(date +%s) - start < 900 )) || { echo "bench: serve too slow"; tail "$WORK/serve.log"; exit 1; }
  done
  curl -s 127.0.0.1:$port/metrics | grep -E '^etcdaudit_scan(s_skipped_total|_duration_seconds_(sum|count)) '
fi

#!/usr/bin/env bash
# Policy engine benchmarks (issue 4): the bundled pack over synthetic fleets
# of 1,000 and 10,000 members (clusters of 5), on ONE core (-cpu 1), so the
# figures are time per member and total, and growth from 1k to 10k shows
# whether it is linear.
#
#   MemberControls       the 14 member-scoped controls, a realistic fleet (a
#                        handful of versions, 1-3% of members with a problem)
#   MemberControlsWorst  the same controls, every member a distinct version
#                        and failing many controls: no verdict reused
#   Pack                 the whole pack (member, cluster and fleet controls)
#
# cpu-µs/member (process CPU time) is the figure to quote on a shared
# machine; µs/member is wall time and includes waiting for a core.
# BENCH_COUNT (default 3) repeats each benchmark; BENCH_TIME (default 2s)
# is how long each runs: at least 2 s, so the 1,000-member figure averages
# dozens of evaluations rather than three, whose first ones pay for growing
# the heap.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${BENCH_COUNT:-3}
out=$(go test ./policies -run '^$' -bench 'MemberControls|Pack' -cpu 1 -benchtime "${BENCH_TIME:-2s}" -count "$COUNT" -timeout 30m)
echo "$out" | grep -E '^(goos|goarch|cpu|Benchmark)'
echo
echo "summary (median of $COUNT runs, 1 core):"
echo "$out" | awk '/^Benchmark/ {
    cpu=""; for (i=2; i<=NF; i++) if ($(i+1)=="cpu-µs/member") cpu=$i
    printf "%s %s %s\n", $1, cpu, $3
  }' | sort -k1,1 -k2,2n | awk '
  { n[$1]++; c[$1, n[$1]]=$2; w[$1, n[$1]]=$3 }
  END {
    for (k in n) {
      m=int((n[k]+1)/2)
      printf "  %-42s %8.1f cpu-µs/member  %7.2f s wall per scan\n", k, c[k, m], w[k, m]/1e9
    }
  }' | sort

# End to end: `etcdaudit eval --facts` of the 10,000-member synthetic
# fleets (realistic and worst case) as a user runs it — decode the facts,
# judge, write the cli and JSON reports — with and without the evaluator's
# optimisation (--no-optimize). CPU seconds (user+sys) is the figure to
# quote on a shared machine. BENCH_EVAL=0 skips this part.
if [ "${BENCH_EVAL:-1}" != 0 ]; then
  work=$(mktemp -d /tmp/etcdaudit-bench-eval.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  go build -o "$work/etcdaudit" ./cmd/etcdaudit
  BENCH_FACTS_OUT=$work/fleet.json BENCH_FACTS_MEMBERS=10000 go test ./policies -run '^TestWriteBenchFacts$' -count=1 >/dev/null
  BENCH_FACTS_OUT=$work/worst.json BENCH_FACTS_MEMBERS=10000 BENCH_FACTS_WORST=1 go test ./policies -run '^TestWriteBenchFacts$' -count=1 >/dev/null
  echo
  echo "eval --facts, 10,000 members (min of $COUNT runs):"
  for facts in fleet worst; do
    for opt in "" --no-optimize; do
      best=""
      for _ in $(seq 1 "$COUNT"); do
        t=$( { /usr/bin/time -f "%U %S %e" "$work/etcdaudit" eval $opt --facts "$work/$facts.json" --report "json:$work/r.json" >/dev/null 2>/dev/null; } 2>&1 | awk 'NF==3 {printf "%.2f %.2f", $1+$2, $3}')
        best=$(printf '%s\n%s\n' "$best" "$t" | awk 'NF==2' | sort -n | head -1)
      done
      printf '  %-6s %-14s %s\n' "$facts" "${opt:-optimised}" "$(echo "$best" | awk '{printf "%6.2f cpu-s  %6.2f s wall", $1, $2}')"
    done
  done
fi

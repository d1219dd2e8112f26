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

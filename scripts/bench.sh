#!/usr/bin/env bash
# `make bench`: every benchmark script under scripts/bench/ in turn (Go
# benchmarks and side-by-side runs against the etcdctl way), each printing
# the figures docs/performance.md holds. BENCH_ONLY=name runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
for s in scripts/bench/*.sh; do
  name=$(basename "$s" .sh)
  if [ -n "${BENCH_ONLY:-}" ] && [ "$name" != "$BENCH_ONLY" ]; then continue; fi
  echo "=== bench: $name"
  "$s"
done

#!/usr/bin/env bash
# Builds the etcd servers the test harness runs (3.5, 3.6, 3.7) from the Go
# module proxy into a git-ignored cache. Each build is skipped when the cached
# binary was built from the same tools/etcd/<version> module files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ETCDAUDIT_ETCD_CACHE:-$root/.cache/etcd}
for dir in "$root"/tools/etcd/v*; do
  ver=$(basename "$dir")
  out="$cache/$ver/etcd"
  stamp=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" | sha256sum | cut -d' ' -f1)
  if [ -x "$out" ] && [ "$(cat "$cache/$ver/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "etcd $ver: cached ($out)"
    continue
  fi
  mkdir -p "$cache/$ver"
  start=$(date +%s)
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "$stamp" > "$cache/$ver/stamp"
  echo "etcd $ver: built in $(( $(date +%s) - start ))s ($out)"
done

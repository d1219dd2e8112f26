#!/usr/bin/env bash
# Builds the etcd servers the test harness runs (3.5, 3.6, 3.7), and the
# etcdutl of each (snapshot restore for the remediator's host stand-in), from
# the Go module proxy into a git-ignored cache (internal/etcdtest finds them through
# ETCDAUDIT_ETCD_DIR, or <repo>/.cache/etcd). A build is skipped when the
# cached binary was built from the same tools/etcd/<version> module files with
# the same Go; concurrent runs (several `make test`) wait on a lock instead of
# racing on the same files.
#   ETCDAUDIT_ETCD_CACHE  cache dir (default: $ETCDAUDIT_ETCD_DIR, else <repo>/.cache/etcd)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ETCDAUDIT_ETCD_CACHE:-${ETCDAUDIT_ETCD_DIR:-$root/.cache/etcd}}
command -v go >/dev/null || { echo "etcd-binaries: go not found in PATH (Go 1.26 needed)" >&2; exit 1; }
mkdir -p "$cache"
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi
gover=$(go env GOVERSION)
# tools/etcd/<v> builds <cache>/<v>/etcd (stamp "stamp"), tools/etcdutl/<v>
# builds <cache>/<v>/etcdutl (stamp "stamp-etcdutl").
for dir in "$root"/tools/etcd/v* "$root"/tools/etcdutl/v*; do
  ver=$(basename "$dir")
  tool=$(basename "$(dirname "$dir")")
  out="$cache/$ver/$tool"
  stampfile="$cache/$ver/stamp"
  [ "$tool" = etcd ] || stampfile="$cache/$ver/stamp-$tool"
  stamp=$( (cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go"; echo "$gover") | sha256sum | cut -d' ' -f1)
  if [ -x "$out" ] && [ "$(cat "$stampfile" 2>/dev/null)" = "$stamp" ]; then
    echo "$tool $ver: cached ($out)"
    continue
  fi
  mkdir -p "$cache/$ver"
  start=$(date +%s)
  tmp="$out.tmp.$$"
  if ! (cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$tmp" .); then
    rm -f "$tmp"
    echo "etcd-binaries: building $tool $ver failed (module $dir; the Go module proxy must be reachable on a cold cache)" >&2
    exit 1
  fi
  # The binary must say it is the version its directory names.
  # (Captured first: with pipefail, grep -q closing the pipe early would
  # fail the check with SIGPIPE even on a match.)
  if [ "$tool" = etcd ]; then
    reported=$("$tmp" --version 2>/dev/null || true)
    want="^etcd Version: ${ver#v}$"
  else
    reported=$("$tmp" version 2>/dev/null || true)
    want="^etcdutl version: ${ver#v}$"
  fi
  if ! grep -q "$want" <<<"$reported"; then
    echo "etcd-binaries: $tmp does not report $tool ${ver#v}:" >&2
    echo "$reported" >&2
    rm -f "$tmp"
    exit 1
  fi
  mv "$tmp" "$out"
  echo "$stamp" > "$stampfile"
  echo "$tool $ver: built in $(( $(date +%s) - start ))s ($out)"
done

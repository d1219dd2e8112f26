#!/usr/bin/env bash
# Installs (as root, with apt) or names the Debian packages the real-server
# tests need. Quiet when everything is already there.
set -euo pipefail
need=()
command -v /usr/bin/etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v /usr/bin/etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
command -v jq >/dev/null 2>&1 || need+=(jq)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts these as services; the tests start their own on free ports.
  for s in etcd prometheus prometheus-node-exporter prometheus-pushgateway; do
    (systemctl stop "$s" 2>/dev/null || service "$s" stop 2>/dev/null) || true
  done
  exit 0
fi
echo "missing packages; run first: sudo apt-get install -y ${need[*]}" >&2
exit 1

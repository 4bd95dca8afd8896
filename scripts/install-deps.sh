#!/usr/bin/env bash
# Installs the Debian packages the tests, the lab and the benchmark use. Idempotent; needs root.
# Skips apt entirely when everything is already there, so repeated runs are fast and offline-safe.
set -euo pipefail
# clang, zlib1g-dev: the NativeAOT link of scripts/publish.sh (CI smoke-tests that artefact).
# etcd-server/etcd-client (3.4): the etcd lease-store tests start their own members; the packaged service is unused.
# openssl: the etcd TLS tests make a throwaway CA, server and client certificates. python3: scripts/smoke-drops.sh.
pkgs=(clang zlib1g-dev iproute2 iputils-ping ethtool iptables iperf3 tcpdump libpcap0.8 containernetworking-plugins sockperf procps strace linux-perf etcd-server etcd-client openssl python3-minimal)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi


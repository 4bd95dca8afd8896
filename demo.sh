#!/usr/bin/env bash
# The main job on a fresh machine, no external services: installs the Debian packages the lab needs, builds, then
# `dataplane lab demo` builds a two-node lab in network namespaces (udp backend, embedded lease store), shows a pod on
# node 1 reaching a pod on node 2 through the dataplane (ping and a TCP transfer), the leases, routes and counters,
# and tears everything down. Needs root. Extra arguments go to `lab demo` (e.g. --nodes 3, --ip-masq).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then echo "demo.sh: needs root (network namespaces, TUN): sudo $0" >&2; exit 1; fi
scripts/install-deps.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Control/Control.csproj -c Release -nologo -v quiet >/dev/null
exec Control/bin/Release/net10.0/dataplane lab demo "$@"

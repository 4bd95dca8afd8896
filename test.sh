#!/usr/bin/env bash
# The test command: installs what the tests need (as root), builds, runs every test project one after the other
# (they build network namespaces and measure timings: running them side by side on a 2-core machine only adds noise).
# Privileged tests (namespaces, TUN, kernel VXLAN, the lab) need root; without it they are skipped locally and fail
# under CI=true. Extra arguments go to every `dotnet test` (e.g. --filter Category!=Privileged).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then scripts/install-deps.sh; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Dataplane.sln -c Release -warnaserror -nologo -v quiet
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
for project in tests/Dataplane.Tests tests/Dataplane.Tun.Tests tests/Control.Tests; do
  echo "== $project"
  dotnet test "$project" -c Release --no-build --blame-hang-timeout 10m --logger "console;verbosity=minimal" "$@" 2>&1 | tee -a "$log" || status=1
done
# One closing line over all projects, from the runners' own summaries.
awk '/(Passed|Failed)! +- +Failed:/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status

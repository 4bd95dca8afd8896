#!/usr/bin/env bash
# The lab benchmark (issue 8): plain routing, kernel VXLAN (flannel.1) and our daemon's modes, interleaved, on one
# two-node namespace lab. Needs root. Writes results.json, report.md and PNG plots to
# perf-results/<yyyy-MM-dd>-<hostname>/lab/ (or --out DIR).
#
#   sudo scripts/bench-lab.sh [--modes plain,kernel-vxlan,udp-per-packet] [--duration 5] [--repetitions 3] [--out DIR] [--smoke]
#
# Installs the tools, builds, runs `Dataplane.Bench bench` (the benchmark lives in Dataplane.Bench, not in the daemon;
# it runs the daemon built beside it, Dataplane.Control, and its own udp-blast/udp-sink generators). Run it on a quiet
# machine (load average < 0.5) for numbers worth committing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh   # includes linux-perf for the traced syscall pass
dotnet build Dataplane.Bench/Dataplane.Bench.csproj -c Release -v q -nologo >/dev/null
exec Dataplane.Bench/bin/Release/net10.0/Dataplane.Bench bench "$@"

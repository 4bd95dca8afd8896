#!/usr/bin/env bash
# The lab benchmark (issue 8): plain routing, kernel VXLAN (flannel.1) and our daemon's modes, interleaved, on one
# two-node namespace lab. Needs root. Writes results.json, report.md and PNG plots to
# perf-results/<yyyy-MM-dd>-<hostname>/lab/ (or --out DIR).
#
#   sudo scripts/bench-lab.sh [--modes plain,kernel-vxlan,udp-per-packet] [--duration 5] [--repetitions 3] [--out DIR] [--smoke]
#
# Runs `dataplane bench` when the CLI offers it, otherwise the same harness through its development entry point
# (the explicit DevRun test). Run it on a quiet machine (load average < 0.5) for numbers worth committing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if ! command -v perf >/dev/null 2>&1; then
  # perf counts syscalls in the traced pass; without it the harness falls back to strace (slower, still per-packet exact).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf >/dev/null 2>&1 \
    || echo "bench-lab: linux-perf not installable; the traced pass will use strace" >&2
fi
dotnet build Control/Control.csproj -c Release -v q -nologo >/dev/null
exe=Control/bin/Release/net10.0/dataplane
# System.CommandLine answers --help with the root help even for an unknown verb: look for the verb in the list.
if "$exe" --help 2>/dev/null | sed -n "/^Commands:/,\$p" | grep -qE "^ +bench( |$)"; then
  exec "$exe" bench "$@"
fi
BENCH_MODES="" BENCH_DURATION=5 BENCH_REPETITIONS=3 BENCH_OUT="$PWD/perf-results/$(date +%F)-$(hostname)/lab" BENCH_SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --modes) BENCH_MODES="$2"; shift 2 ;;
    --duration) BENCH_DURATION="${2%s}"; shift 2 ;;
    --repetitions) BENCH_REPETITIONS="$2"; shift 2 ;;
    --out) BENCH_OUT="$(realpath -m "$2")"; shift 2 ;;
    --smoke) BENCH_SMOKE=1; shift ;;
    *) echo "bench-lab: unknown option '$1' (known: --modes --duration --repetitions --out --smoke)" >&2; exit 2 ;;
  esac
done
export BENCH_MODES BENCH_DURATION BENCH_REPETITIONS BENCH_OUT BENCH_SMOKE
exec dotnet test tests/Control.Tests/Control.Tests.csproj -c Release --filter Name=DevRun --logger "console;verbosity=normal"

#!/usr/bin/env bash
# Runs the BenchmarkDotNet micro-benchmarks and files the reports for committing.
#   scripts/bench-micro.sh [filter]      e.g. scripts/bench-micro.sh '*ForwardingTable*'   (default: '*')
# Reports (*-report-github.md and *.csv) go to perf-results/<yyyy-MM-dd>-<hostname>/micro/, with
# COMMAND.txt recording the exact command, git sha, CPU model, kernel and .NET version. Running it again the
# same day adds to / overwrites reports of the same benchmark classes in that folder.
# Every hot-path benchmark must show '-' or '0 B' in the Allocated column; the script lists any that don't.
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-*}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

out="perf-results/$(date +%Y-%m-%d)-$(hostname -s)/micro"
artifacts="$(mktemp -d)"
trap 'rm -rf "$artifacts"' EXIT
cmd=(dotnet run -c Release --project Dataplane.Bench -- --filter "$filter" --artifacts "$artifacts")

"${cmd[@]}"

mkdir -p "$out"
cp "$artifacts"/results/*-report-github.md "$out"/
cp "$artifacts"/results/*-report.csv "$out"/ 2>/dev/null || true
sha="$(git rev-parse HEAD)"
git diff --quiet HEAD -- Dataplane Dataplane.Bench || sha="$sha (with uncommitted changes)"
{
  echo "# Micro-benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command: scripts/bench-micro.sh $(printf '%q' "$filter")  =>  $(printf '%q ' "${cmd[@]}")"
  echo "git: $sha"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
  echo "kernel: $(uname -srm)"
  echo "dotnet: $(dotnet --version)"
} >> "$out/COMMAND.txt"
echo "reports in $out:"
ls "$out"
# List every row whose "Allocated" column (found by its header: the table may end in "Alloc Ratio") is not '-' / '0 B'.
# Expected only for control-path benchmarks (ForwardingTableApplyBenchmarks); anything else is a hot-path regression.
echo "benchmarks that allocate:"
awk -F'|' '/\| Method/ { col = 0; for (i = 1; i <= NF; i++) { h = $i; gsub(/ /, "", h); if (h == "Allocated") col = i }; next }
  col > 0 && /^\|/ && $0 !~ /---/ { a = $col; gsub(/[ *]/, "", a); if (a != "-" && a != "0B" && a != "") print FILENAME ": " $2 $3 " allocates " a }' "$out"/*-report-github.md || true

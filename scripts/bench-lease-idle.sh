#!/usr/bin/env bash
# Idle CPU of one daemon on the embedded lease store, at several lease counts (issue 14's benchmark).
#   scripts/bench-lease-idle.sh [seconds=60] [counts="10 1000 10000"] [settle=65]
# For each count N: a fresh lease dir (tmpfs) holding N-1 peer leases (value + .meta expiring in 24 h, as a
# daemon writes them), one `dataplane run --unsafe-control-only` (no TUN, no routes: safe in the root
# namespace), `settle` seconds, then utime+stime from /proc/PID/stat over the measured window = % of one CPU.
# The default settle covers the first two 30 s resyncs, during which the runtime's tiered JIT recompiles the
# resync path (measured: ~200 ms of CPU each at 1000 leases, then ~20 ms): the window then shows steady state,
# and a 60 s window always contains two resyncs (the store's only periodic work).
# Writes perf-results/<yyyy-MM-dd>-<hostname>/lease-idle/report.md with this command, git sha and machine.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
counts="${2:-10 1000 10000}"
settle="${3:-65}"
dotnet build Control/Control.csproj -c Release -nologo -v quiet >/dev/null
bin="$PWD/Control/bin/Release/net10.0/dataplane"
out="perf-results/$(date +%Y-%m-%d)-$(hostname -s)/lease-idle"
mkdir -p "$out"
work="$(mktemp -d /dev/shm/lease-idle-XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
hz="$(getconf CLK_TCK)"
exp="$(date -u -d '+24 hours' +%Y-%m-%dT%H:%M:%S.000Z)"
rows=()
for n in $counts; do
  dir="$work/leases-$n"
  mkdir -p "$dir/subnets/.meta"
  echo '{"Network":"10.0.0.0/8","SubnetLen":24}' > "$dir/config"
  # N-1 peers in 10.X.Y.0/24 with X.Y from 1.0 upwards (the daemon takes one more).
  python3 - "$dir" "$n" "$exp" <<'PY'
import sys, os
d, n, exp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(1, n):
    x, y = divmod(i + 256, 256)
    key = f"10.{x}.{y}.0-24"
    ip = f"198.18.{i // 250 % 250}.{i % 250 + 1}"
    open(os.path.join(d, "subnets", ".meta", key), "w").write(f'{{"Expiration":"{exp}","PublicIP":"{ip}","Pid":1}}\n')
    open(os.path.join(d, "subnets", key), "w").write(f'{{"PublicIP":"{ip}","PublicIPv6":null}}')
PY
  "$bin" run --unsafe-control-only --iface lo --public-ip 198.19.255.254 --lease-dir "$dir" \
    --subnet-file "$work/subnet-$n.env" >"$work/log-$n" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q "Running with data path" "$work/log-$n" && break; sleep 0.1; done
  grep -q "Running with data path" "$work/log-$n" || { echo "daemon did not start:"; tail "$work/log-$n"; exit 1; }
  sleep "$settle"
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat"); s0=$(date +%s.%N)
  sleep "$seconds"
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat"); s1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  pct=$(awk -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" 'BEGIN { printf "%.3f", 100 * (b - a) / hz / (s1 - s0) }')
  rows+=("| $n | $seconds | $((t1 - t0)) | $pct % | $((rss / 1024)) MiB |")
  echo "leases=$n idle CPU=$pct % of one CPU (ticks $((t1 - t0)) over ${seconds}s, RSS $((rss / 1024)) MiB)"
done
sha="$(git rev-parse HEAD)"
git diff --quiet HEAD -- Control || sha="$sha (with uncommitted changes)"
{
  echo "# Idle CPU of one daemon on the embedded lease store, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "command: scripts/bench-lease-idle.sh $seconds \"$counts\" $settle"
  echo "git: $sha"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores, shared with other builds/tests)"
  echo "kernel: $(uname -srm)"
  echo
  echo "One \`dataplane run --unsafe-control-only --lease-dir\` (no traffic), N leases in the store (tmpfs), $settle s settle,"
  echo "then utime+stime of the process over the window (clock ticks of $((1000 / hz)) ms). Goal: < 0.5 % of one CPU."
  echo
  echo "| leases | window (s) | CPU ticks | idle CPU (% of one CPU) | RSS |"
  echo "|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$out/report.md"
echo "wrote $out/report.md"

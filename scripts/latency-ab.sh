#!/usr/bin/env bash
# Paired latency comparison of our --io modes (issue 12's "latency within +10 % of the per-packet mode").
#   sudo scripts/latency-ab.sh [--backend udp|vxlan] [--rounds N=20] [--slice SECONDS=2] [--out DIR] MODE MODE...
#   e.g. sudo scripts/latency-ab.sh --backend vxlan per-packet batch
#
# Why not the lab benchmark: it measures each mode in its own 5 s window, ~40 s apart, and on this shared 2-vCPU VM the
# neighbours move p50 by ±15 % between windows (perf-results/README.md), more than the difference to be shown. Here
# every mode gets its own lab (two nodes, two pods, built once; an idle daemon costs ~0.2 % of a CPU), all up at once,
# and sockperf ping-pong runs in short slices that alternate between the labs round after round (the order rotates
# each round). Drift then hits every mode alike, and each round gives a paired ratio against the first mode.
# Reported: per mode the median over slices of p50 and p99 (sockperf: RTT/2), and per mode the median and quartiles of
# the per-round ratios to the first mode. Writes DIR/report.md (default perf-results/<date>-<host>/latency-ab-<backend>)
# with this command, the git commit and the load average. Labs use the prefixes la0-, la1-, … and are torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=udp rounds=20 slice=2 out=""
modes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --slice) slice="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n 2,4p "$0"; exit 0 ;;
    -*) echo "latency-ab: unknown option $1" >&2; exit 2 ;;
    *) modes+=("$1"); shift ;;
  esac
done
[ ${#modes[@]} -ge 2 ] || { echo "latency-ab: name at least two --io modes (the first is the baseline)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "latency-ab: needs root (network namespaces)" >&2; exit 2; }
case "$rounds" in ''|*[!0-9]*) echo "latency-ab: --rounds must be a number" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$rounds" -le 200 ] || { echo "latency-ab: --rounds 1..200" >&2; exit 2; }
case "$slice" in ''|*[!0-9]*) echo "latency-ab: --slice must be whole seconds" >&2; exit 2 ;; esac
[ "$slice" -ge 1 ] && [ "$slice" -le 60 ] || { echo "latency-ab: --slice 1..60" >&2; exit 2; }
command -v sockperf >/dev/null || { echo "latency-ab: needs sockperf (scripts/install-deps.sh installs it)" >&2; exit 2; }
out="${out:-perf-results/$(date +%Y-%m-%d)-$(hostname -s)/latency-ab-$backend}"

dotnet build Control/Control.csproj -c Release -nologo -v quiet >/dev/null
bin="$PWD/Control/bin/Release/net10.0/dataplane"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
work="$(mktemp -d)"
servers=()
down() {
  for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in "${!modes[@]}"; do DATAPLANE_LAB_PREFIX="la$i-" "$bin" lab down >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap down EXIT

for i in "${!modes[@]}"; do
  echo "latency-ab: lab la$i- with --io ${modes[$i]} ($backend)"
  DATAPLANE_LAB_PREFIX="la$i-" "$bin" lab up --backend "$backend" --io "${modes[$i]}" >"$work/up-$i.log" 2>&1 \
    || { cat "$work/up-$i.log" >&2; exit 1; }
  pod2="$(grep -oE "pod la$i-p2: [0-9.]+" "$work/up-$i.log" | awk '{print $3}')"
  [ -n "$pod2" ] || { echo "latency-ab: no pod 2 address in lab la$i-" >&2; cat "$work/up-$i.log" >&2; exit 1; }
  echo "$pod2" >"$work/pod2-$i"
  # Bounded: the server outlives every slice (rounds × modes × (slice + 3) s) and is killed on exit.
  ip netns exec "la$i-p2" timeout $(( rounds * ${#modes[@]} * (slice + 5) + 60 )) sockperf server -i "$pod2" -p 11111 >/dev/null 2>&1 &
  servers+=("$!")
done
sleep 1
# Warm-up: a slice per lab, not recorded (first packets learn neighbours and leases; the runtime tiers up).
for i in "${!modes[@]}"; do
  ip netns exec "la$i-p1" timeout $(( slice + 20 )) sockperf ping-pong -i "$(cat "$work/pod2-$i")" -p 11111 -t "$slice" -m 64 >/dev/null 2>&1 || true
done

n=${#modes[@]}
echo "round mode p50_us p99_us" >"$work/slices"
for r in $(seq 1 "$rounds"); do
  line="round $r/$rounds:"
  for k in $(seq 0 $(( n - 1 ))); do
    i=$(( (k + r) % n ))   # rotate the order so no mode always follows another
    o="$(ip netns exec "la$i-p1" timeout $(( slice + 20 )) sockperf ping-pong -i "$(cat "$work/pod2-$i")" -p 11111 -t "$slice" -m 64 2>&1 || true)"
    p50="$(echo "$o" | awk '/percentile 50.000 =/ {print $NF}')"
    p99="$(echo "$o" | awk '/percentile 99.000 =/ {print $NF}')"
    if [ -z "$p50" ] || [ -z "$p99" ]; then echo "latency-ab: sockperf gave no percentiles for ${modes[$i]}:" >&2; echo "$o" | tail -5 >&2; exit 1; fi
    echo "$r ${modes[$i]} $p50 $p99" >>"$work/slices"
    line="$line ${modes[$i]} $p50/$p99"
  done
  echo "$line"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# Statistics (awk): median and quartiles by sorting; ratios per round against the first mode.
stats() { sort -g | awk -v f="${1:-%.1f}" '{v[NR]=$1} END {if (NR==0) {print "- - -"; exit} printf f " " f " " f "\n", v[int((NR+3)/4)], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[int((3*NR+3)/4)]}'; }
mkdir -p "$out"
cp "$work/slices" "$out/slices.txt"
{
  echo "# Paired latency: --io ${modes[*]} ($backend backend)"
  echo
  echo "- Command: \`sudo scripts/latency-ab.sh --backend $backend --rounds $rounds --slice $slice ${modes[*]}\`"
  echo "- Commit: \`$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Dataplane Dataplane.Tun Control || echo ' (with local changes)')\`; machine: $(nproc) vCPU, kernel $(uname -r)"
  echo "- Run: $started → $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $load_start at start, $load_end at end"
  echo "- Method: one two-node lab per mode, all up at once; sockperf ping-pong, 64 B UDP, pod 1 → pod 2, $slice s slices"
  echo "  alternating between the labs (order rotated each round), $rounds rounds after one unrecorded warm-up slice each."
  echo "  sockperf reports half the round trip. Every slice: slices.txt."
  echo
  echo "| mode | p50 µs: median over slices (q1–q3) | p99 µs: median (q1–q3) | p50 ÷ ${modes[0]}, per round: median (q1–q3) | p99 ÷ ${modes[0]}: median (q1–q3) |"
  echo "|---|---|---|---|---|"
  for m in "${modes[@]}"; do
    read -r a50 m50 b50 < <(awk -v m="$m" '$2==m {print $3}' "$work/slices" | stats)
    read -r a99 m99 b99 < <(awk -v m="$m" '$2==m {print $4}' "$work/slices" | stats)
    if [ "$m" = "${modes[0]}" ]; then
      echo "| \`$m\` | $m50 ($a50–$b50) | $m99 ($a99–$b99) | baseline | baseline |"
    else
      read -r r50a r50m r50b < <(awk -v m="$m" -v b="${modes[0]}" '$2==b {x[$1]=$3} $2==m {y[$1]=$3} END {for (r in y) if (r in x) print y[r]/x[r]}' "$work/slices" | stats %.3f)
      read -r r99a r99m r99b < <(awk -v m="$m" -v b="${modes[0]}" '$2==b {x[$1]=$4} $2==m {y[$1]=$4} END {for (r in y) if (r in x) print y[r]/x[r]}' "$work/slices" | stats %.3f)
      echo "| \`$m\` | $m50 ($a50–$b50) | $m99 ($a99–$b99) | $r50m× ($r50a–$r50b) | $r99m× ($r99a–$r99b) |"
    fi
  done
} >"$out/report.md"
cat "$out/report.md"
echo "latency-ab: wrote $out/report.md and slices.txt"

#!/usr/bin/env bash
# CI smoke on the release artefact: `dataplane drops --follow` decodes (PacketDotNet, compiled by NativeAOT) a datagram
# from an address with no lease, and `dataplane status` answers over the control socket. Lab namespaces only.
#   scripts/smoke-drops.sh path/to/dataplane
set -euo pipefail
bin="$(realpath "${1:?usage: smoke-drops.sh path/to/dataplane}")"
export DATAPLANE_LAB_PREFIX="${DATAPLANE_LAB_PREFIX:-cid}"
out="$(mktemp)"
trap '"$bin" lab down >/dev/null 2>&1 || true; rm -f "$out"' EXIT
"$bin" lab up >/dev/null
sock="$("$bin" lab status | sed -n 's/^node 1 .*--control-socket \([^ ]*\).*/\1/p')"
[ -S "$sock" ] || { echo "smoke-drops: no control socket for node 1 (got '$sock')" >&2; exit 1; }
timeout 10 "$bin" drops --follow --count 1 --control-socket "$sock" >"$out" 2>&1 &
follower=$!
sleep 1
n2="${DATAPLANE_LAB_PREFIX}n2"
ip netns exec "$n2" ip addr add 198.18.0.77/24 dev eth0
# An IPv4/UDP packet (10.244.99.9:4242 > 10.244.1.2:53) as flannel-udp payload, from an address that holds no lease.
ip netns exec "$n2" python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.77', 0))
s.sendto(bytes([0x45,0,0,28,0,0,0,0,64,17,0,0,10,244,99,9,10,244,1,2,0x10,0x92,0,53,0,8,0,0]), ('198.18.0.1', 8285))"
wait "$follower" || true
cat "$out"
grep -q "UnknownSource in from 198.18.0.77:.* IPv4 10.244.99.9 > 10.244.1.2 .*UDP 4242 > 53" "$out" \
  || { echo "smoke-drops: the stranger's datagram was not shown decoded" >&2; exit 1; }
"$bin" status --control-socket "$sock" | grep -q "UnknownSource 1" || { echo "smoke-drops: status does not count the drop" >&2; exit 1; }
echo "smoke-drops: ok"

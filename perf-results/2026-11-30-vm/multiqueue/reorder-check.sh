#!/bin/sh
# Reordering check for --tun-queues (the lab benchmark has no UDP order metric): the namespace lab with one backend,
# iperf3 UDP (4 streams, 64 B, unpaced) pod 1 → pod 2 with the default daemons, then the same with both daemons
# restarted with --tun-queues 2 (same command line otherwise). iperf3 counts datagrams that arrive out of order per
# stream (a stream is one UDP flow). Usage: reorder-check.sh udp|vxlan [seconds]; needs root; prints one line per run.
set -eu
backend=${1:-udp}
seconds=${2:-5}
export DATAPLANE_LAB_PREFIX=${DATAPLANE_LAB_PREFIX:-dpm-}
p=$DATAPLANE_LAB_PREFIX
D=${DATAPLANE:-Control/bin/Release/net10.0/dataplane}
$D lab down >/dev/null 2>&1 || true
$D lab up --backend "$backend" >/dev/null
pod2=$(ip netns exec "${p}p2" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
measure() {
    ip netns exec "${p}p2" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
    sleep 1
    ip netns exec "${p}p1" iperf3 -c "$pod2" -p 5301 -u -b 0 -l 64 -P 4 -t "$seconds" -J > /tmp/${p}reorder.json
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open("/tmp/" + __import__("os").environ["DATAPLANE_LAB_PREFIX"] + "reorder.json"))
streams = [s["udp"] for s in r["end"]["streams"]]
ooo = [s.get("out_of_order", 0) for s in streams]
print(f"{sys.argv[1]}: sent {sum(s['packets'] for s in streams)} datagrams in 4 flows, lost {sum(s['lost_packets'] for s in streams)}, "
      f"out of order per flow {ooo} (total {sum(ooo)}), receiver {r['end']['sum']['lost_percent']:.1f}% lost")
EOF
    # TCP, 4 streams: retransmits, segments the receiver queued out of order (TcpExtTCPOFOQueue in pod 2) and what
    # the sending node's TUN dropped on transmit (its queue to us overflowed): reordering versus loss.
    tun=$(ip netns exec "${p}n1" ip -o link | grep -o 'flannel[^:@]*' | head -1)
    ofo0=$(ip netns exec "${p}p2" nstat -az TcpExtTCPOFOQueue | awk '/TCPOFOQueue/{print $2}')
    drop0=$(ip netns exec "${p}n1" cat "/sys/class/net/$tun/statistics/tx_dropped")
    ip netns exec "${p}p2" iperf3 -s -1 -p 5302 >/dev/null 2>&1 &
    sleep 1
    rt=$(ip netns exec "${p}p1" iperf3 -c "$pod2" -p 5302 -P 4 -t "$seconds" -J | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; print(e["sum_sent"]["retransmits"], round(e["sum_received"]["bits_per_second"]/1e9, 2))')
    ofo1=$(ip netns exec "${p}p2" nstat -az TcpExtTCPOFOQueue | awk '/TCPOFOQueue/{print $2}')
    drop1=$(ip netns exec "${p}n1" cat "/sys/class/net/$tun/statistics/tx_dropped")
    echo "$1: TCP x4: retransmits and Gbit/s $rt, receiver out-of-order queued $((ofo1 - ofo0)), sender $tun tx_dropped $((drop1 - drop0))"
}
measure "$backend --tun-queues 1"
for i in 1 2; do
    pid=$(ip netns pids "${p}n$i" | head -1)
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    setsid ip netns exec "${p}n$i" $cmd --tun-queues 2 >>"/run/dataplane-lab-${p%-}/n$i/daemon.log" 2>&1 </dev/null &
done
for _ in $(seq 1 100); do
    ip netns exec "${p}p1" ping -c 1 -W 1 "$pod2" >/dev/null 2>&1 && break
done
measure "$backend --tun-queues 2"
for i in 1 2; do
    pid=$(ip netns pids "${p}n$i" | head -1)
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    echo "node $i: $(grep -o 'Per queue:.*' "/run/dataplane-lab-${p%-}/n$i/daemon.log" | tail -1)"
done
$D lab down >/dev/null

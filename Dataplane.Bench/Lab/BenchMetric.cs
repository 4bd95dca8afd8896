namespace Control.Bench;

/// <summary>A metric the benchmark reports: JSON key, label, unit and how it is measured (the report prints the method).</summary>
internal sealed record BenchMetric(string Key, string Label, string Unit, string Method, bool DaemonOnly = false)
{
    public const string Tcp1Gbps = "tcp1_gbps";
    public const string Tcp1Retransmits = "tcp1_retransmits";
    public const string Tcp4Gbps = "tcp4_gbps";
    public const string Udp64Kpps = "udp64_delivered_kpps";
    public const string Udp64SentKpps = "udp64_sent_kpps";
    public const string Udp1400Kpps = "udp1400_delivered_kpps";
    public const string Udp1400Gbps = "udp1400_delivered_gbps";
    public const string Udp1400SentKpps = "udp1400_sent_kpps";
    public const string LatencyP50 = "latency_p50_us";
    public const string LatencyP99 = "latency_p99_us";
    public const string DataplaneCpuPerGb = "dataplane_cpu_s_per_gb";
    public const string SenderCpuPerGb = "sender_dataplane_cpu_s_per_gb";
    public const string SoftirqCpuPerGb = "softirq_cpu_s_per_gb";
    public const string MachineCpuPerGb = "machine_cpu_s_per_gb";
    public const string VoluntaryPerMb = "dataplane_voluntary_cs_per_mb";
    public const string InvoluntaryPerMb = "dataplane_involuntary_cs_per_mb";
    public const string MachineCsPerMb = "machine_cs_per_mb";
    public const string SyscallsPerPacket = "syscalls_per_packet";
    public const string SenderIoPerSegment = "sender_tun_reads_udp_sends_per_segment";
    public const string SyscallsPerMb = "syscalls_per_mb";
    public const string WireOverhead = "wire_overhead_bytes";

    /// <summary>Every metric, in report order.</summary>
    public static readonly IReadOnlyList<BenchMetric> All =
    [
        new(Tcp1Gbps, "TCP 1 stream", "Gbit/s", "iperf3 -J, pod 1 → pod 2, receiver-side bits/s (end.sum_received)"),
        new(Tcp1Retransmits, "TCP 1 stream retransmits", "count", "iperf3 end.sum_sent.retransmits during the 1-stream test"),
        new(Tcp4Gbps, "TCP 4 streams", "Gbit/s", "iperf3 -J -P 4, receiver-side bits/s"),
        new(Udp64Kpps, "UDP 64 B delivered", "kpps", "Udp InDatagrams increase in pod 2's namespace (/proc/net/snmp; counted as `Dataplane.Bench udp-sink` reads them) ÷ test time; generator: `Dataplane.Bench udp-blast --size 64` (sendmmsg, 64 datagrams per call, unpaced)"),
        new(Udp64SentKpps, "UDP 64 B sent", "kpps", "datagrams the generator's sendmmsg calls accepted ÷ test time (the offered load; sent − delivered were dropped on the way)"),
        new(Udp1400Kpps, "UDP 1400 B delivered", "kpps", "as for 64 B, --size 1400"),
        new(Udp1400Gbps, "UDP 1400 B delivered", "Gbit/s", "delivered datagrams × 1400 B payload × 8 ÷ test time"),
        new(Udp1400SentKpps, "UDP 1400 B sent", "kpps", "the generator's accepted datagrams ÷ test time"),
        new(LatencyP50, "latency p50", "µs", "sockperf ping-pong, 64 B UDP, pod 1 → pod 2; sockperf reports RTT/2"),
        new(LatencyP99, "latency p99", "µs", "as p50"),
        new(DataplaneCpuPerGb, "dataplane CPU per GB", "s/GB", "daemon modes: utime+stime of the daemon processes (/proc/PID/stat) during the 1-stream TCP test ÷ GB received; kernel modes: the machine's softirq time instead"),
        new(SenderCpuPerGb, "sending daemon's CPU per GB", "s/GB", "utime+stime of node 1's daemon alone (its pod runs the iperf3 client, so it reads the data from its TUN and sends it, and receives the returning ACKs and writes them to its TUN) during the 1-stream TCP test ÷ GB received", DaemonOnly: true),
        new(SoftirqCpuPerGb, "softirq CPU per GB", "s/GB", "/proc/stat softirq time during the 1-stream TCP test ÷ GB received"),
        new(MachineCpuPerGb, "machine CPU per GB", "s/GB", "/proc/stat busy time (all CPUs: user+nice+system+irq+softirq+steal, including iperf3 itself) ÷ GB received"),
        new(VoluntaryPerMb, "dataplane voluntary switches per MB", "1/MB", "voluntary_ctxt_switches summed over all daemon threads (/proc/PID/task/*/status) during the 1-stream TCP test ÷ MB received", DaemonOnly: true),
        new(InvoluntaryPerMb, "dataplane involuntary switches per MB", "1/MB", "nonvoluntary_ctxt_switches, as above", DaemonOnly: true),
        new(MachineCsPerMb, "machine context switches per MB", "1/MB", "/proc/stat ctxt increase during the 1-stream TCP test ÷ MB received"),
        new(SyscallsPerPacket, "syscalls per packet", "1/packet", "separate traced pass: perf stat -e raw_syscalls:sys_enter -p <daemon> for each daemon during a 1-stream TCP test, both daemons' syscalls together ÷ inner packets carried both ways (TCP segments sent by pod 1 and by pod 2: Tcp OutSegs in their /proc/net/snmp, which counts MSS-sized segments also when TCP hands a TSO super-packet down). Not eth0 tx_packets: a veth counts a UDP GSO train as one packet; in the per-packet modes the two agree", DaemonOnly: true),
        new(SenderIoPerSegment, "sending node: TUN reads + UDP sends per data segment", "1/segment", "the traced pass: daemon 1's read + sendto + sendmsg + sendmmsg calls (per-syscall tracepoints syscalls:sys_enter_*, or strace -c) ÷ TCP segments pod 1 sent (its Tcp OutSegs increase, as above). The returning ACKs' UDP receives and TUN writes are not in it; the daemon's few other read(2) calls are", DaemonOnly: true),
        new(SyscallsPerMb, "syscalls per MB", "1/MB", "the traced pass's syscalls ÷ MB received by iperf3", DaemonOnly: true),
        new(WireOverhead, "overhead on the wire", "B/packet", "tcpdump on node 1's eth0 during pings of a known size: outer IPv4 total length − inner (falls back to the computed value, labelled, without tcpdump)"),
    ];
}

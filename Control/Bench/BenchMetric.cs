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
    public const string SoftirqCpuPerGb = "softirq_cpu_s_per_gb";
    public const string MachineCpuPerGb = "machine_cpu_s_per_gb";
    public const string VoluntaryPerMb = "dataplane_voluntary_cs_per_mb";
    public const string InvoluntaryPerMb = "dataplane_involuntary_cs_per_mb";
    public const string MachineCsPerMb = "machine_cs_per_mb";
    public const string SyscallsPerPacket = "syscalls_per_packet";
    public const string SyscallsPerMb = "syscalls_per_mb";
    public const string WireOverhead = "wire_overhead_bytes";

    /// <summary>Every metric, in report order.</summary>
    public static readonly IReadOnlyList<BenchMetric> All =
    [
        new(Tcp1Gbps, "TCP 1 stream", "Gbit/s", "iperf3 -J, pod 1 → pod 2, receiver-side bits/s (end.sum_received)"),
        new(Tcp1Retransmits, "TCP 1 stream retransmits", "count", "iperf3 end.sum_sent.retransmits during the 1-stream test"),
        new(Tcp4Gbps, "TCP 4 streams", "Gbit/s", "iperf3 -J -P 4, receiver-side bits/s"),
        new(Udp64Kpps, "UDP 64 B delivered", "kpps", "Udp InDatagrams increase in pod 2's namespace (/proc/net/snmp; counted as `dataplane udp-sink` reads them) ÷ test time; generator: `dataplane udp-blast --size 64` (sendmmsg, 64 datagrams per call, unpaced)"),
        new(Udp64SentKpps, "UDP 64 B sent", "kpps", "datagrams the generator's sendmmsg calls accepted ÷ test time (the offered load; sent − delivered were dropped on the way)"),
        new(Udp1400Kpps, "UDP 1400 B delivered", "kpps", "as for 64 B, --size 1400"),
        new(Udp1400Gbps, "UDP 1400 B delivered", "Gbit/s", "delivered datagrams × 1400 B payload × 8 ÷ test time"),
        new(Udp1400SentKpps, "UDP 1400 B sent", "kpps", "the generator's accepted datagrams ÷ test time"),
        new(LatencyP50, "latency p50", "µs", "sockperf ping-pong, 64 B UDP, pod 1 → pod 2; sockperf reports RTT/2"),
        new(LatencyP99, "latency p99", "µs", "as p50"),
        new(DataplaneCpuPerGb, "dataplane CPU per GB", "s/GB", "daemon modes: utime+stime of the daemon processes (/proc/PID/stat) during the 1-stream TCP test ÷ GB received; kernel modes: the machine's softirq time instead"),
        new(SoftirqCpuPerGb, "softirq CPU per GB", "s/GB", "/proc/stat softirq time during the 1-stream TCP test ÷ GB received"),
        new(MachineCpuPerGb, "machine CPU per GB", "s/GB", "/proc/stat busy time (all CPUs: user+nice+system+irq+softirq+steal, including iperf3 itself) ÷ GB received"),
        new(VoluntaryPerMb, "dataplane voluntary switches per MB", "1/MB", "voluntary_ctxt_switches summed over all daemon threads (/proc/PID/task/*/status) during the 1-stream TCP test ÷ MB received", DaemonOnly: true),
        new(InvoluntaryPerMb, "dataplane involuntary switches per MB", "1/MB", "nonvoluntary_ctxt_switches, as above", DaemonOnly: true),
        new(MachineCsPerMb, "machine context switches per MB", "1/MB", "/proc/stat ctxt increase during the 1-stream TCP test ÷ MB received"),
        new(SyscallsPerPacket, "syscalls per packet", "1/packet", "separate traced pass: perf stat -e raw_syscalls:sys_enter -p <both daemons> during a 1-stream TCP test ÷ packets sent on the underlay by both nodes (eth0 tx_packets): the send side's and the receive side's syscalls together", DaemonOnly: true),
        new(SyscallsPerMb, "syscalls per MB", "1/MB", "the traced pass's syscalls ÷ MB received by iperf3", DaemonOnly: true),
        new(WireOverhead, "overhead on the wire", "B/packet", "tcpdump on node 1's eth0 during pings of a known size: outer IPv4 total length − inner (falls back to the computed value, labelled, without tcpdump)"),
    ];
}

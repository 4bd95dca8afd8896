using System.Buffers.Binary;
using Control.Bench;
using CsCheck;

namespace Control.Tests.Bench;

/// <summary>The benchmark's parsers and arithmetic, on recorded or constructed tool output (no root needed).</summary>
public sealed class BenchParsingTests
{
    private const string TcpJson = """
        {"start":{"test_start":{"protocol":"TCP","num_streams":1}},
         "end":{"sum_sent":{"bytes":1250000000,"bits_per_second":2.0e9,"seconds":5.0,"retransmits":17},
                "sum_received":{"bytes":1240000000,"bits_per_second":1.984e9,"seconds":5.0}}}
        """;

    private const string UdpJson = """
        {"start":{"test_start":{"protocol":"UDP","num_streams":1}},
         "end":{"sum":{"bytes":7496320,"packets":117130,"lost_packets":56261},
                "sum_sent":{"bytes":7496320,"bits_per_second":59968461.1,"seconds":1.0,"packets":117130,"lost_packets":0},
                "sum_received":{"bytes":3895616,"bits_per_second":31085566.5,"seconds":1.0,"packets":117130,"lost_packets":56261}}}
        """;

    [Test]
    public void Iperf3_tcp_uses_receiver_side_rate_and_sender_retransmits()
    {
        var r = Iperf3Result.Parse(TcpJson);
        Assert.That(r.ReceivedBytes, Is.EqualTo(1240000000));
        Assert.That(r.ReceivedBitsPerSecond, Is.EqualTo(1.984e9));
        Assert.That(r.Retransmits, Is.EqualTo(17));
    }

    [Test]
    public void Iperf3_udp_reports_sent_packets()
    {
        var r = Iperf3Result.Parse(UdpJson);
        Assert.That(r.SentPackets, Is.EqualTo(117130));
    }

    [Test]
    public void Iperf3_error_report_and_garbage_become_bench_exceptions()
    {
        Assert.That(() => Iperf3Result.Parse("""{"start":{},"error":"unable to connect to server: Connection refused"}"""),
            Throws.TypeOf<BenchException>().With.Message.Contains("Connection refused"));
        Assert.That(() => Iperf3Result.Parse("iperf3: error"), Throws.TypeOf<BenchException>());
    }

    [Test]
    public void Sockperf_percentiles_are_parsed()
    {
        const string output = """
            sockperf: Summary: Latency is 5.745 usec
            sockperf: [2;35mTotal 47784 observations[0m; each percentile contains 477.84 observations
            sockperf: ---> <MAX> observation = 1337.027
            sockperf: ---> percentile 99.999 = 1337.027
            sockperf: ---> percentile 99.000 =    7.250
            sockperf: ---> percentile 50.000 =    5.538
            sockperf: ---> <MIN> observation =    5.448
            """;
        var r = SockperfResult.Parse(output);
        Assert.That((r.P50Microseconds, r.P99Microseconds, r.Observations), Is.EqualTo((5.538, 7.250, 47784L)));
        Assert.That(() => SockperfResult.Parse("sockperf: ERROR"), Throws.TypeOf<BenchException>());
    }

    [Test]
    public void Perf_stat_csv_and_strace_table_are_parsed()
    {
        var perf = SyscallTracer.FromPerf("""
            123456,,raw_syscalls:sys_enter,1000,100.00,,
            60000,,syscalls:sys_enter_read,1000,100.00,,
            <not counted>,,syscalls:sys_enter_sendmmsg,0,100.00,,
            """);
        Assert.That(perf.Total, Is.EqualTo(123456));
        Assert.That(perf.ByName["read"], Is.EqualTo(60000));
        Assert.That(perf.ByName["sendmmsg"], Is.Zero);
        var strace = SyscallTracer.ParseStrace("""
            % time     seconds  usecs/call     calls    errors syscall
            ------ ----------- ----------- --------- --------- ----------------
             60.00    0.000600           1       500           write
             40.00    0.000400           1       400        12 read
            ------ ----------- ----------- --------- --------- ----------------
            100.00    0.001000           1       900        12 total
            """);
        Assert.That(strace.Total, Is.EqualTo(900));
        Assert.That(strace.ByName["read"], Is.EqualTo(400));
    }

    [Test]
    public void A_syscall_perf_did_not_count_is_unknown_but_one_strace_did_not_list_was_not_made()
    {
        var perf = SyscallTracer.FromPerf("""
            1000,,raw_syscalls:sys_enter,1000,100.00,,
            300,,syscalls:sys_enter_read,1000,100.00,,
            <not counted>,,syscalls:sys_enter_sendmmsg,0,100.00,,
            """);
        Assert.That(perf.Sum(["read", "sendmmsg"]), Is.EqualTo(300));
        Assert.That(perf.Sum(["read", "sendto"]), Is.Null, "perf had no tracepoint for sendto");
        var strace = SyscallTracer.ParseStrace("""
             40.00    0.000400           1       400           read
            100.00    0.001000           1       400           total
            """);
        Assert.That(strace.Sum(["read", "sendto"]), Is.EqualTo(400));
    }

    [Test]
    public void Counts_of_two_sessions_add_up_and_stay_exhaustive_only_if_both_are()
    {
        var a = new SyscallTracer.Counts(10, new Dictionary<string, long> { ["read"] = 4, ["write"] = 1 }, ListsEverySyscall: true);
        var b = new SyscallTracer.Counts(7, new Dictionary<string, long> { ["read"] = 2, ["sendmmsg"] = 3 }, ListsEverySyscall: false);
        var sum = a.Plus(b);
        Assert.That((sum.Total, sum.ByName["read"], sum.ByName["write"], sum.ByName["sendmmsg"]), Is.EqualTo((17L, 6L, 1L, 3L)));
        Assert.That(sum.ListsEverySyscall, Is.False);
        Assert.That(a.Plus(a).ListsEverySyscall, Is.True);
    }

    [Test]
    public void Sender_io_per_segment_counts_tun_reads_and_every_kind_of_udp_send_only()
    {
        var sender = new SyscallTracer.Counts(5000, new Dictionary<string, long>
        {
            ["read"] = 100, ["sendto"] = 1, ["sendmsg"] = 2, ["sendmmsg"] = 97,
            ["write"] = 1500, ["recvmmsg"] = 900, ["poll"] = 400, // the ACKs' way back and idle time: not in it
        }, ListsEverySyscall: false);
        Assert.That(TracedPass.SenderIoPerSegment(sender, 4000), Is.EqualTo(200 / 4000.0));
        Assert.That(TracedPass.SenderIoPerSegment(sender, 0), Is.Null);
        var noSendto = new SyscallTracer.Counts(10, new Dictionary<string, long> { ["read"] = 5, ["sendmsg"] = 0, ["sendmmsg"] = 5 }, ListsEverySyscall: false);
        Assert.That(TracedPass.SenderIoPerSegment(noSendto, 100), Is.Null, "a send the tracer could not count must not read as zero");
    }

    [Test]
    public void Syscalls_per_packet_divide_by_inner_packets_both_ways()
    {
        var both = new SyscallTracer.Counts(6000, new Dictionary<string, long>(), ListsEverySyscall: true);
        Assert.That(TracedPass.SyscallsPerPacket(both, 800, 200), Is.EqualTo(6.0));
        Assert.That(TracedPass.SyscallsPerPacket(both, 0, 0), Is.Null);
        Assert.That(TracedPass.SyscallsPerPacket(both with { Total = 0 }, 800, 200), Is.Null);
    }

    [Test]
    public void Tcp_out_segments_are_read_by_column_name_past_a_negative_max_conn()
    {
        const string snmp = """
            Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
            Tcp: 1 200 120000 -1 12 3 0 1 2 987654 1234567 42 0 5 0
            Udp: InDatagrams NoPorts
            Udp: 1 2
            """;
        Assert.That(LabBenchmark.SnmpValue(snmp, "Tcp", "OutSegs"), Is.EqualTo(1234567L));
        Assert.That(LabBenchmark.SnmpValue(snmp, "Tcp", "MaxConn"), Is.EqualTo(-1L));
        Assert.That(LabBenchmark.SnmpValue(snmp, "Tcp", "NoSuchColumn"), Is.Zero);
        Assert.That(() => LabBenchmark.SnmpValue(snmp, "Icmp", "InMsgs"), Throws.TypeOf<BenchException>().With.Message.Contains("Icmp"));
    }

    [Test]
    public void Udp_snmp_counters_are_read_by_column_name()
    {
        const string snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 1234 5 6 7 89 0\n";
        Assert.That(LabBenchmark.ParseUdpSnmp(snmp), Is.EqualTo((1234L, 89L)));
    }

    [Test]
    public void Udp_blast_sent_count_is_read_from_its_json_line()
    {
        const string output = "some warning\n{\"sent\":551232,\"seconds\":3.000121,\"calls\":8613,\"errors\":0,\"size\":64,\"gso\":false,\"segments\":1}\n";
        Assert.That(LabBenchmark.UdpBlastSent(output), Is.EqualTo(551232L));
        Assert.That(() => LabBenchmark.UdpBlastSent("dataplane: udp-blast: connect: Network is unreachable\n"),
            Throws.TypeOf<BenchException>().With.Message.Contains("no JSON line"));
        Assert.That(() => LabBenchmark.UdpBlastSent("{\"calls\":3}"), Throws.TypeOf<BenchException>().With.Message.Contains("not understood"));
    }

    [TestCase(0)]
    [TestCase(28)]
    [TestCase(50)]
    public void Wire_overhead_is_outer_minus_inner_length(int overhead)
    {
        const int inner = 228;
        var pcap = Pcap([Frame(inner + overhead), Frame(inner + overhead), Frame(60 + 28), Frame(inner + overhead)]);
        Assert.That(WireCapture.OverheadBytes(pcap, inner), Is.EqualTo(overhead));
    }

    [Test]
    public void Wire_capture_without_matching_frames_or_with_garbage_gives_null()
    {
        Assert.That(WireCapture.OverheadBytes(Pcap([Frame(64)]), 228), Is.Null);
        Assert.That(WireCapture.OverheadBytes(new byte[10], 228), Is.Null);
        var truncated = Pcap([Frame(278)]);
        Assert.That(WireCapture.OverheadBytes(truncated.AsSpan(0, truncated.Length - 20), 228), Is.Null);
    }

    [Test]
    public void Summary_is_median_and_min_max()
    {
        Assert.That(MetricSummary.Of([5, 1, 3]), Is.EqualTo(new MetricSummary(3, 1, 5, 3)));
        Assert.That(MetricSummary.Of([4, 1, 3, 2]), Is.EqualTo(new MetricSummary(2.5, 1, 4, 4)));
    }

    [Test]
    public void Summary_median_lies_within_the_spread() =>
        Gen.Double[-1e6, 1e6].Array[1, 30].Sample(values =>
        {
            var s = MetricSummary.Of(values);
            return s.Min <= s.Median && s.Median <= s.Max && s.Min == values.Min() && s.Max == values.Max() && s.N == values.Length;
        });

    [Test]
    public void Options_resolve_smoke_defaults_and_reject_bad_values()
    {
        var smoke = new BenchOptions { Smoke = true, Repetitions = 5, Duration = TimeSpan.FromSeconds(30) }.Resolve();
        Assert.That((smoke.Repetitions, smoke.Duration, smoke.UdpGenerators), Is.EqualTo((1, TimeSpan.FromSeconds(1), 1)));
        Assert.That(smoke.Modes, Is.EqualTo(BenchModes.Default.Select(m => m.Name)));
        Assert.That(new BenchOptions { Modes = ["udp-batch", "all"] }.Resolve().Modes, Is.EqualTo(BenchModes.All.Select(m => m.Name)));
        Assert.That(new BenchOptions { Modes = ["udp-batch", "plain", "udp-batch"] }.Resolve().Modes, Is.EqualTo(new[] { "udp-batch", "plain" }));
        Assert.That(smoke.OutputDirectory, Does.EndWith(Path.Combine(Environment.MachineName, "lab")));
        Assert.That(() => new BenchOptions { Modes = ["plain", "warp-drive"] }.Resolve(),
            Throws.TypeOf<BenchException>().With.Message.Contains("warp-drive"));
        Assert.That(() => new BenchOptions { Duration = TimeSpan.Zero }.Resolve(), Throws.TypeOf<BenchException>().With.Message.Contains("--duration"));
        Assert.That(() => new BenchOptions { Repetitions = 0 }.Resolve(), Throws.TypeOf<BenchException>().With.Message.Contains("--repetitions"));
        Assert.That(BenchOptions.ParseModes(" plain, kernel-vxlan ,,"), Is.EqualTo(new[] { "plain", "kernel-vxlan" }));
    }

    [Test]
    public void Modes_have_unique_names_and_exactly_one_way_to_run()
    {
        Assert.That(BenchModes.All.Select(m => m.Name), Is.Unique);
        Assert.That(BenchModes.All.All(m => (m.Daemon is null) != (m.Kernel is null)));
        Assert.That(BenchModes.All.Select(m => m.Name), Is.SupersetOf(new[] { "plain", "kernel-vxlan", "udp-per-packet" }));
    }

    [Test]
    public void Batch_modes_and_their_variants_compare_against_the_per_packet_mode_of_their_backend()
    {
        var names = new[] { "udp-batch", "vxlan-batch", "udp-batch-no-tso", "udp-batch-no-gso", "udp-batch-no-gro", "udp-batch-no-mmsg", "udp-batch-threads" };
        Assert.That(BenchModes.Default.Select(m => m.Name), Is.SupersetOf(names.Append("kernel-vxlan").Append("udp-per-packet").Append("vxlan-per-packet")));
        foreach (var mode in BenchModes.All.Where(m => m.Baseline is not null))
        {
            var baseline = BenchModes.Find(mode.Baseline!);
            Assert.That(baseline?.Daemon?.Arguments, Is.EqualTo(new[] { "--io", "per-packet" }), mode.Name);
            Assert.That(baseline!.Daemon!.Backend, Is.EqualTo(mode.Daemon!.Backend), mode.Name);
        }
        Assert.That(names.Select(n => BenchModes.Find(n)!.Baseline), Has.All.Not.Null);
        // Each variant differs from the default by exactly one switch, so its gap to udp-batch is that technique's worth.
        foreach (var variant in new[] { "udp-batch-no-tso", "udp-batch-no-gso", "udp-batch-no-gro", "udp-batch-no-mmsg" })
            Assert.That(BenchModes.Find(variant)!.Daemon!.Arguments.Except(BenchModes.Find("udp-batch")!.Daemon!.Arguments).Count(), Is.EqualTo(1), variant);
        Assert.That(BenchModes.Default, Has.None.Matches<BenchMode>(m => m.OptIn));
    }

    [Test]
    public void Ratios_compare_medians_with_the_baseline_and_kernel_vxlan_of_the_same_run()
    {
        static ModeResult Mode(string name, bool daemon, string? baseline, double tcp, double cpu, double sender, double machine) =>
            new(name, name, daemon, 28)
            {
                Baseline = baseline,
                Summary =
                {
                    [BenchMetric.Tcp1Gbps] = new(tcp, tcp, tcp, 1),
                    [BenchMetric.DataplaneCpuPerGb] = new(cpu, cpu, cpu, 1),
                    [BenchMetric.SenderCpuPerGb] = new(sender, sender, sender, 1),
                    [BenchMetric.MachineCpuPerGb] = new(machine, machine, machine, 1),
                },
            };
        var ran = new List<ModeResult>
        {
            Mode("kernel-vxlan", false, null, 10, 0.5, 0, 1),
            Mode("udp-per-packet", true, null, 0.5, 18, 9, 22),
            Mode("udp-batch", true, "udp-per-packet", 1.0, 6, 3, 11),
            Mode("vxlan-batch", true, "vxlan-per-packet", 1.0, 6, 3, 11),
        };
        var rows = ModeRatios.Of(ran).ToDictionary(r => r.Mode);
        Assert.That(rows.Keys, Is.EqualTo(new[] { "udp-per-packet", "udp-batch", "vxlan-batch" }), "daemon modes only, in run order");
        Assert.That(rows["udp-batch"], Is.EqualTo(new ModeRatios("udp-batch", "udp-per-packet", 2.0, 6 / 18.0, 3 / 9.0, 0.1, 11.0)));
        Assert.That(rows["udp-per-packet"].Tcp1VsBaseline, Is.Null, "a baseline has no baseline");
        Assert.That(rows["vxlan-batch"] with { Tcp1VsKernel = null, MachineCpuVsKernel = null }, Is.EqualTo(new ModeRatios("vxlan-batch", null, null, null, null, null, null)),
            "its baseline did not run");

        var report = BenchReport.Render(new BenchResults
        {
            Started = DateTimeOffset.UnixEpoch,
            Machine = new MachineInfo("h", "k", "c", 2, "0.0 0.0 0.0", []),
            Settings = new BenchRunSettings(ran.Select(m => m.Name).ToList(), 5, 1, 1, false),
            Modes = ran,
        }, []);
        Assert.That(report, Does.Contain("| `udp-batch` | `udp-per-packet` | 2× | 0.333× | 0.333× | 0.100× | 11× |"));
        Assert.That(report, Does.Contain("## Modes not in this run").And.Contain("`udp-per-packet-threads`").And.Contain("opt-in"));
    }

    private static byte[] Frame(int ipTotalLength)
    {
        var f = new byte[14 + ipTotalLength];
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
        f[14] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), (ushort)ipTotalLength);
        return f;
    }

    private static byte[] Pcap(IEnumerable<byte[]> frames)
    {
        using var ms = new MemoryStream();
        var header = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xa1b2c3d4);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 262144);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), 1);
        ms.Write(header);
        foreach (var f in frames)
        {
            var rec = new byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(rec.AsSpan(8), (uint)f.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(rec.AsSpan(12), (uint)f.Length);
            ms.Write(rec);
            ms.Write(f);
        }
        return ms.ToArray();
    }
}

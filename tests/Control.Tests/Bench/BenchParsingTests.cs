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
        Assert.That(smoke.Modes, Is.EqualTo(BenchModes.All.Select(m => m.Name)));
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

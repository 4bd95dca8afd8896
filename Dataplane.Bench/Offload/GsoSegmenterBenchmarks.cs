using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Bench.Offload;

/// <summary>
/// The per-segment cost of userspace GSO on the TUN read path: plan one 64 KiB TCPv4 TSO super-packet and write
/// the final headers of every segment (IP checksum, TCP checksum over the payload read in place). The payload is
/// never copied, as on the send path; <c>OperationsPerInvoke</c> = segment count, so the reported time is per
/// segment. Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class GsoSegmenterBenchmarks
{
    private const int IpHeader = 20, TcpHeader = 32;
    private byte[] _packet = null!;
    private VirtioNetHeader _hdr;
    private readonly byte[] _headers = new byte[GsoSegmenter.MaxHeaderLength];

    /// <summary>gso_size: 1448 (MTU 1500 less IPv4, TCP and timestamps), 1410 (flannel vxlan's MTU 1450 less 40).</summary>
    [Params(1448, 1410)]
    public int Mss { get; set; }

    /// <summary>
    /// Segments per super-packet: TCP sizes a TSO packet in whole MSS (tcp_tso_autosize), and 45 × MSS is the
    /// most that fits an IPv4 packet at both sizes (63–65 KB).
    /// </summary>
    public const int Segments = 45;

    [GlobalSetup]
    public void Setup()
    {
        int total = IpHeader + TcpHeader + Segments * Mss;
        _packet = new byte[total];
        Ipv4Header.Write(_packet, new Ipv4HeaderFields(0, (ushort)total, 7, true, 64, IpProtocol.Tcp,
            new Ipv4Address(0x0AF40102), new Ipv4Address(0x0AF40203)));
        var tcp = _packet.AsSpan(IpHeader);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], 1);
        tcp[12] = TcpHeader / 4 << 4;
        tcp[13] = 0x18;
        for (int i = IpHeader + TcpHeader; i < total; i++)
            _packet[i] = (byte)i;
        _hdr = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.TcpV4, IpHeader + TcpHeader, (ushort)Mss, IpHeader, 16);
        if (GsoSegmenter.TryPlan(_packet, _hdr, out var plan) != DropReason.None || plan.SegmentCount != Segments)
            throw new InvalidOperationException($"setup: {plan}");
    }

    /// <summary>TryPlan + WriteSegmentHeaders for all 45 segments; reported per segment.</summary>
    [Benchmark(OperationsPerInvoke = Segments)]
    public int PlanAndWriteHeaders()
    {
        if (GsoSegmenter.TryPlan(_packet, _hdr, out var plan) != DropReason.None)
            return -1;
        int sum = 0;
        for (int i = 0; i < plan.SegmentCount; i++)
            sum += GsoSegmenter.WriteSegmentHeaders(_packet, plan, i, _headers);
        return sum;
    }
}

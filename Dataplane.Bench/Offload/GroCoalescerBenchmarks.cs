using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Bench.Offload;

/// <summary>
/// The per-segment cost of userspace GRO on the TUN write path: coalesce 44 contiguous MSS-sized TCPv4 segments
/// (valid checksums, incrementing ids, as a TSO sender's segments arrive) into one super-packet. Per segment that is
/// the IPv4 header and TCP checksum verification (one pass over the segment), the header comparisons and one payload
/// copy into the head's tail room. <c>OperationsPerInvoke</c> = segment count, so the reported time is per segment.
/// Must allocate nothing.
/// </summary>
/// <remarks>
/// Only the head buffer is changed by a call (its length and header fields), so each invocation restores just that
/// one (a ~1.5 KB copy, about 1 ns per segment of the result) and refills the span the call reorders.
/// </remarks>
[MemoryDiagnoser]
public class GroCoalescerBenchmarks
{
    private const int IpHeader = 20, TcpHeader = 32;

    /// <summary>Segments per super-packet: 44 × 1448 + 52 = 63,764 bytes, under the 65,535 limit.</summary>
    public const int Segments = 44;

    private byte[][] _segments = null!;
    private PacketBuffer[] _buffers = null!;
    private PacketBuffer[] _work = null!;
    private GroCoalescer _gro = null!;

    /// <summary>gso_size: 1448 (MTU 1500 less IPv4, TCP and timestamps), 1410 (flannel vxlan's MTU 1450 less 40).</summary>
    [Params(1448, 1410)]
    public int Mss { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _segments = new byte[Segments][];
        _buffers = new PacketBuffer[Segments];
        _work = new PacketBuffer[Segments];
        for (int i = 0; i < Segments; i++)
        {
            int total = IpHeader + TcpHeader + Mss;
            var p = new byte[total];
            Ipv4Header.Write(p, new Ipv4HeaderFields(0, (ushort)total, (ushort)(7 + i), true, 64, IpProtocol.Tcp,
                new Ipv4Address(0x0AF40102), new Ipv4Address(0x0AF40203)));
            var tcp = p.AsSpan(IpHeader);
            BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], 1 + (uint)(i * Mss));
            BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 99);
            tcp[12] = TcpHeader / 4 << 4;
            tcp[13] = 0x10;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 502);
            tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10;
            for (int j = IpHeader + TcpHeader; j < total; j++)
                p[j] = (byte)(j + i);
            TransportChecksum.Complete(p);
            _segments[i] = p;
            _buffers[i] = new PacketBuffer(i == 0 ? 65536 + 256 : 2048);
            _buffers[i].Load(p);
        }
        _gro = new GroCoalescer(Segments);
        if (Coalesce() != 1 || _work[0].Offload.GsoType != GsoType.TcpV4)
            throw new InvalidOperationException("setup: the segments did not coalesce into one super-packet");
    }

    /// <summary>Coalesce all 44 segments into one super-packet; reported per segment.</summary>
    [Benchmark(OperationsPerInvoke = Segments)]
    public int Coalesce()
    {
        var head = _buffers[0];
        head.Reset();
        head.Load(_segments[0]);
        _buffers.CopyTo(_work, 0);
        return _gro.Coalesce(_work);
    }
}

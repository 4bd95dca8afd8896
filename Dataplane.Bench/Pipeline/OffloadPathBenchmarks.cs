using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Offload;
using Dataplane.Packets;
using Dataplane.Pipeline;

namespace Dataplane.Bench.Pipeline;

/// <summary>
/// The send side of the batch path as the pump runs it: one 64 KiB TCPv4 TSO super-packet read from the TUN, looked
/// up, split and encapsulated (flannel-udp or VXLAN) into GSO trains of a <see cref="DatagramBatch"/> (headers into the
/// header arena, payload referenced in place), ending at the underlay's Send (a sink here: the kernel's part is what
/// the lab benchmark measures). And the receive side: the segments of such a packet, as a peer's GRO train, through
/// the inbound pump's checks, decapsulation and GRO back into one super-packet for the TUN. Both reported per segment
/// (<c>OperationsPerInvoke</c> = segments); both must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class OffloadPathBenchmarks
{
    private const int Segments = 45;
    // A GRO train holds at most 64 KiB: 40 VXLAN datagrams of 1,472 bytes fit (45 would not), so both formats use 40.
    private const int TrainSegments = 40;
    private const int Mss = 1398; // flannel.1's MTU 1450 less IPv4 20 and TCP with timestamps 32
    private static readonly MacAddress Ours = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly MacAddress Peer = MacAddress.Parse("02:00:00:00:00:02");
    private OutboundPump _out = null!;
    private InboundPump _in = null!;
    private PacketBuffer[] _read = null!;
    private byte[] _super = null!;
    private VirtioNetHeader _header;
    private byte[][] _train = null!;
    private PacketBuffer[] _received = null!;
    private DropCounters _drops = null!;

    /// <summary>The wire format.</summary>
    [Params(EncapsulationKind.FlannelUdp, EncapsulationKind.Vxlan)]
    public EncapsulationKind Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int mtu = Kind == EncapsulationKind.Vxlan ? 1450 : 1472;
        IEncapsulation encapsulation = Kind == EncapsulationKind.Vxlan ? new VxlanEncapsulation(1, Ours, mtu) : new FlannelUdpEncapsulation(mtu);
        var table = new ForwardingTable();
        var peer = new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8472);
        table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(peer, Kind, Peer, 1))]);
        var sink = new Sink();
        var tun = new SinkTun();
        _out = new OutboundPump(tun, table, [new UnderlayBinding(encapsulation, sink)], new DropCounters());

        _super = TcpSuperPacket(Segments * Mss);
        _header = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.TcpV4, 52, Mss, 20, 16);
        _read = [new PacketBuffer(PacketBufferPool.LargeBufferSize)];

        // The receive side: what a peer's split of the same packet looks like on our socket (flannel-udp TTL already
        // decremented once by the sender), coalesced by UDP GRO into one train.
        var peerTable = new ForwardingTable();
        peerTable.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.1.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.1"), 8472), Kind, Ours, 1))]);
        IEncapsulation receive = Kind == EncapsulationKind.Vxlan ? new VxlanEncapsulation(1, Peer, mtu) : new FlannelUdpEncapsulation(mtu);
        var filter = new PeerFilter { LocalSubnet = Ipv4Prefix.Parse("10.244.2.0/24"), Routes = peerTable };
        filter.Replace([Ipv4Address.Parse("198.18.0.1")]);
        var trainSocket = new Sink(gro: true);
        _drops = new DropCounters();
        _in = new InboundPump(new UnderlayBinding(receive, trainSocket), new SinkTun(), filter, _drops);
        _train = Segment(_super, Kind).Take(TrainSegments).ToArray();
        _received = [new PacketBuffer(PacketBufferPool.LargeBufferSize)];

        // Both paths must do the whole job, or the numbers measure a drop.
        if (SplitAndEncapsulate() != Segments || DecapsulateAndCoalesce() != 1 || _in.GroMerged != TrainSegments - 1 || _drops.Total != 0)
            throw new InvalidOperationException($"setup: sent {_out.Sent.Packets}, delivered {_in.Delivered.Packets}, merged {_in.GroMerged}, drops {_drops}");
    }

    /// <summary>TUN read → lookup → split + encapsulate 45 segments → one Send of the GSO trains.</summary>
    [Benchmark(OperationsPerInvoke = Segments)]
    public long SplitAndEncapsulate()
    {
        var buffer = _read[0];
        buffer.Reset();
        buffer.Load(_super);
        buffer.Offload = _header;
        _out.Forward(_read);
        return _out.Sent.Packets;
    }

    /// <summary>
    /// A GRO train of 40 datagrams → per-datagram checks and decapsulation → GRO into one TUN write. Includes filling the
    /// receive buffer with the train (the copy recvmmsg makes), about 30 ns per 1.4 KB datagram here.
    /// </summary>
    [Benchmark(OperationsPerInvoke = TrainSegments)]
    public long DecapsulateAndCoalesce()
    {
        var train = _received[0];
        train.Reset();
        int at = 0;
        foreach (var datagram in _train)
        {
            datagram.CopyTo(train.Writable[at..]);
            at += datagram.Length;
        }
        train.SetLength(at);
        train.Peer = new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.1"), 8472);
        train.Offload = new VirtioNetHeader(0, GsoType.UdpL4, 0, (ushort)_train[0].Length, 0, 0);
        _in.Deliver(_received);
        return _in.Delivered.Packets;
    }

    private static byte[] TcpSuperPacket(int payload)
    {
        int total = 52 + payload;
        var p = new byte[total];
        Ipv4Header.Write(p, new Ipv4HeaderFields(0, (ushort)total, 7, true, 64, IpProtocol.Tcp,
            Ipv4Address.Parse("10.244.1.2"), Ipv4Address.Parse("10.244.2.3")));
        var tcp = p.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 1);
        tcp[12] = 8 << 4;
        tcp[13] = 0x10;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 500);
        tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10;
        for (int i = 52; i < total; i++)
            p[i] = (byte)i;
        // The partial checksum the kernel leaves for CHECKSUM_PARTIAL: the folded pseudo-header sum.
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Fold(Checksum.PseudoHeaderSum(p.AsSpan(12, 8), IpProtocol.Tcp, (uint)(total - 20))));
        return p;
    }

    // The datagrams a peer sends for the packet: our own split and encapsulation, TTL as the wire has it.
    private static byte[][] Segment(byte[] super, EncapsulationKind kind)
    {
        var header = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.TcpV4, 52, Mss, 20, 16);
        var outs = Enumerable.Range(0, Segments).Select(_ => new PacketBuffer(4096)).ToArray();
        int n = GsoSegmenter.Split(super, header, outs, out var reason);
        if (reason != DropReason.None || n != Segments)
            throw new InvalidOperationException($"setup: {reason} {n}");
        var hop = new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8472), kind, Peer, 1);
        IEncapsulation e = kind == EncapsulationKind.Vxlan ? new VxlanEncapsulation(1, Ours, 1450) : new FlannelUdpEncapsulation(1472);
        return outs.Select(o => e.Encapsulate(o, hop) == DropReason.None ? o.Data.ToArray() : throw new InvalidOperationException("setup")).ToArray();
    }

    /// <summary>An underlay that accepts every message and receives nothing: the pump's own work, no kernel.</summary>
    internal sealed class Sink(bool gro = false) : IUnderlay
    {
        public int BatchSize => 64;
        public bool SegmentationOffload => true;
        public long GsoFallbacks => 0;
        public bool ReceiveOffload => gro;
        public IoResult Send(DatagramBatch batch)
        {
            foreach (ref var m in batch.Messages)
                m.Verdict = DropReason.None;
            return IoResult.Ok;
        }
        public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
        {
            count = 0;
            return new IoResult(IoStatus.WouldBlock);
        }
        public void Cancel()
        {
        }
    }

    /// <summary>An offload TUN that reads nothing and accepts every write.</summary>
    internal sealed class SinkTun : ITunDevice
    {
        public string Name => "bench0";
        public int BatchSize => 16;
        public int MaxPacketSize => 65545;
        public int WriteHeadroom => VirtioNetHeader.Length;
        public TunOffloads Offloads => TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6;
        public IoResult Read(Span<PacketBuffer> packets, bool wait, out int count)
        {
            count = 0;
            return new IoResult(IoStatus.WouldBlock);
        }
        public IoResult Write(Span<PacketBuffer> packets) => IoResult.Ok;
        public void Cancel()
        {
        }
    }
}

using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;

namespace Dataplane.Bench.Pipeline;

/// <summary>
/// What per-peer counting costs per packet: a batch of 64 small flannel-udp packets through the outbound pump (lookup,
/// encapsulation, batch; a sink for the socket) and 64 datagrams through the inbound pump (stranger check, decapsulation,
/// inner checks, TUN write into a sink), with and without <see cref="PeerTraffic"/> (the slot from the next hop / the
/// peer filter's lookup, three plain adds, one clock read per batch). Small packets make the fixed per-packet cost
/// visible; the difference between the two rows is the counters' cost. Both must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class PeerTrafficBenchmarks
{
    private const int Batch = 64;
    private static readonly Ipv4Address Us = Ipv4Address.Parse("198.18.0.1");
    private static readonly Ipv4Address Peer = Ipv4Address.Parse("198.18.0.2");
    private OutboundPump _out = null!;
    private InboundPump _in = null!;
    private PacketBuffer[] _read = null!;
    private PacketBuffer[] _received = null!;
    private byte[] _outPacket = null!;
    private byte[] _inPacket = null!;

    /// <summary>Whether the pumps count per peer.</summary>
    [Params(false, true)]
    public bool PerPeer { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var traffic = PerPeer ? new PeerTraffic() : null;
        var table = new ForwardingTable();
        table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"),
            new NextHop(new UnderlayEndpoint(Peer, 8285), EncapsulationKind.FlannelUdp, CounterSlot: traffic?.SlotFor(Peer) ?? 0))]);
        var encapsulation = new FlannelUdpEncapsulation(1472);
        _out = new OutboundPump(new OffloadPathBenchmarks.SinkTun(), table, [new UnderlayBinding(encapsulation, new OffloadPathBenchmarks.Sink())],
            new DropCounters()) { PeerTraffic = traffic };

        var peerTable = new ForwardingTable();
        peerTable.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.1.0/24"), new NextHop(new UnderlayEndpoint(Us, 8285), EncapsulationKind.FlannelUdp))]);
        var filter = new PeerFilter { LocalSubnet = Ipv4Prefix.Parse("10.244.2.0/24"), Routes = peerTable, Traffic = traffic };
        filter.Replace([Us]);
        _in = new InboundPump(new UnderlayBinding(encapsulation, new OffloadPathBenchmarks.Sink()), new OffloadPathBenchmarks.SinkTun(), filter, new DropCounters());

        _outPacket = Udp(Ipv4Address.Parse("10.244.1.2"), Ipv4Address.Parse("10.244.2.3"));
        _inPacket = Udp(Ipv4Address.Parse("10.244.1.2"), Ipv4Address.Parse("10.244.2.3"));
        _read = Enumerable.Range(0, Batch).Select(_ => new PacketBuffer(2048)).ToArray();
        _received = Enumerable.Range(0, Batch).Select(_ => new PacketBuffer(2048)).ToArray();
        Outbound();
        Inbound();
        if (_out.Sent.Packets != Batch || _in.Delivered.Packets != Batch || (traffic is not null && traffic.Totals(Peer).SentPackets != Batch))
            throw new InvalidOperationException($"setup: sent {_out.Sent.Packets}, delivered {_in.Delivered.Packets}");
    }

    /// <summary>64 TUN packets → lookup → encapsulate → one Send.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long Outbound()
    {
        foreach (var p in _read)
        {
            p.Reset();
            p.Load(_outPacket);
        }
        _out.Forward(_read);
        return _out.Sent.Packets;
    }

    /// <summary>64 datagrams → stranger check → decapsulate → inner checks → TUN write.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long Inbound()
    {
        foreach (var p in _received)
        {
            p.Reset();
            p.Load(_inPacket);
            p.Peer = new UnderlayEndpoint(Us, 8285);
        }
        _in.Deliver(_received);
        return _in.Delivered.Packets;
    }

    // A 64-byte IPv4/UDP packet (checksum 0: the pumps do not check it on this path).
    private static byte[] Udp(Ipv4Address source, Ipv4Address destination)
    {
        var bytes = new byte[64];
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(0, 64, 1, true, 64, IpProtocol.Udp, source, destination));
        UdpHeader.Write(bytes.AsSpan(20), 40000, 5201, 44);
        return bytes;
    }
}

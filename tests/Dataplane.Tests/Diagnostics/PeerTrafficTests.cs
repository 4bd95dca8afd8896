using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Offload;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Testing;
using Dataplane.Tests.Fakes;
using Dataplane.Tests.Offload;
using Dataplane.Tests.Pipeline;

namespace Dataplane.Tests.Diagnostics;

/// <summary>
/// Per-peer counters on the packet path (the pumps over fakes, synchronously): each peer's datagrams and bytes each
/// way, segments of a super-packet counted one each, strangers never attributed to a peer, 0 B allocated per packet.
/// </summary>
public class PeerTrafficTests
{
    private const int Mtu = 1472;
    private static readonly Ipv4Address A = Ipv4Address.Parse("198.18.0.1");
    private static readonly Ipv4Address B = Ipv4Address.Parse("198.18.0.2");
    private static readonly Ipv4Address C = Ipv4Address.Parse("198.18.0.3");

    private sealed class Node
    {
        public readonly ChannelTunDevice Tun = new(batchSize: 16, TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6);
        public readonly ForwardingTable Table = new();
        public readonly PeerTraffic Traffic = new(capacity: 8);
        public readonly PeerFilter Peers;
        public readonly DropCounters Drops = new();
        public readonly InMemoryUnderlay Udp;
        public readonly OutboundPump Out;
        public readonly InboundPump In;

        public Node(InMemoryNetwork net, Ipv4Address address)
        {
            Udp = net.Bind(address.ToString(), 8285, batchSize: 64, gso: true);
            Peers = new PeerFilter { Traffic = Traffic };
            var binding = new UnderlayBinding(new FlannelUdpEncapsulation(Mtu), Udp);
            Out = new OutboundPump(Tun, Table, [binding], Drops) { PeerTraffic = Traffic };
            In = new InboundPump(binding, Tun, Peers, Drops);
        }

        /// <summary>Installs a route as the data path does: the next hop carries the peer's counter slot.</summary>
        public void Route(string prefix, Ipv4Address peer)
        {
            Table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse(prefix),
                new NextHop(new UnderlayEndpoint(peer, 8285), EncapsulationKind.FlannelUdp, CounterSlot: Traffic.SlotFor(peer)))]);
        }

        public void Drain()
        {
            for (int i = 0; i < 1000 && In.Pump(wait: false).IsOk; i++)
            {
            }
        }
    }

    private static PacketBuffer FromTun(byte[] packet, VirtioNetHeader header = default)
    {
        var buffer = new PacketBuffer(PacketBufferPool.LargeBufferSize);
        buffer.Load(packet);
        buffer.Offload = header;
        return buffer;
    }

    [Test]
    public void Each_peer_counts_its_own_datagrams_and_bytes_both_ways()
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, A);
        var b = new Node(net, B);
        var c = new Node(net, C);
        a.Route("10.244.2.0/24", B);
        a.Route("10.244.3.0/24", C);
        b.Peers.Replace([A]);
        c.Peers.Replace([A]);
        var toB = PacketFactory.Udp(payloadLength: 100, dst: Ipv4Address.Parse("10.244.2.3"));
        var toC = PacketFactory.Udp(payloadLength: 10, dst: Ipv4Address.Parse("10.244.3.3"));
        a.Out.Forward([FromTun(toB), FromTun(toB), FromTun(toC)]);
        b.Drain();
        c.Drain();

        var sentB = a.Traffic.Totals(B);
        var sentC = a.Traffic.Totals(C);
        Assert.That((sentB.SentPackets, sentB.SentBytes), Is.EqualTo((2L, 2L * toB.Length)), "flannel-udp payload = the inner packet");
        Assert.That((sentC.SentPackets, sentC.SentBytes), Is.EqualTo((1L, (long)toC.Length)));
        Assert.That(sentB.LastSent, Is.Not.Null);
        Assert.That(sentB.ReceivedPackets, Is.Zero);
        var fromA = b.Traffic.Totals(A);
        Assert.That((fromA.ReceivedPackets, fromA.ReceivedBytes), Is.EqualTo((2L, 2L * toB.Length)));
        Assert.That(fromA.LastReceived, Is.Not.Null.And.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.That(c.Traffic.Totals(A).ReceivedPackets, Is.EqualTo(1));
    }

    [Test]
    public void A_super_packet_counts_one_datagram_per_segment()
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, A);
        a.Route("10.244.2.0/24", B);
        var super = SuperPackets.Tcp(false, SuperPackets.Payload(14_200));
        a.Out.Forward([FromTun(super, SuperPackets.Header(super, 1420))]);
        var t = a.Traffic.Totals(B);
        Assert.That(t.SentPackets, Is.EqualTo(10).And.EqualTo(a.Out.Sent.Packets));
        Assert.That(t.SentBytes, Is.EqualTo(a.Out.Sent.Bytes));
    }

    [Test]
    public void A_stranger_is_dropped_and_never_attributed_to_a_peer_and_the_trace_shows_it_while_followed()
    {
        var net = new InMemoryNetwork();
        var b = new Node(net, B);
        b.Peers.Replace([A]);
        var stranger = PacketFactory.Udp(payloadLength: 300, src: Ipv4Address.Parse("10.244.9.9"), dst: Ipv4Address.Parse("10.244.2.3"));
        b.Udp.InjectFrom("198.18.0.99", 8285, stranger);
        b.Drain();
        Assert.That(b.Drops[DropReason.UnknownSource], Is.EqualTo(1));
        Assert.That(b.Traffic.Snapshot().Sum(t => t.ReceivedPackets), Is.Zero, "not counted for anyone, not even as unattributed");

        using var follower = b.Drops.Trace.Follow();
        Assert.That(follower.TryRead(), Is.Null, "the drop before following is not in the trace");
        b.Udp.InjectFrom("198.18.0.99", 8285, stranger);
        b.Drain();
        var drop = follower.TryRead();
        Assert.That(drop, Is.Not.Null);
        Assert.That(drop!.Reason, Is.EqualTo(DropReason.UnknownSource));
        Assert.That(drop.Layer, Is.EqualTo(TracedLayer.FlannelUdpPayload));
        Assert.That(drop.Peer, Is.EqualTo(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.99"), 8285)));
        Assert.That(drop.OriginalLength, Is.EqualTo(stranger.Length));
        Assert.That(drop.Bytes, Is.EqualTo(stranger.AsSpan(0, DropTrace.SnapLength).ToArray()));
    }

    [Test]
    public void An_outbound_drop_is_traced_as_the_TUN_gave_it()
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, A);
        using var follower = a.Drops.Trace.Follow();
        var lost = PacketFactory.Udp(payloadLength: 8, dst: Ipv4Address.Parse("10.244.77.1"));
        a.Out.Forward([FromTun(lost)]);
        var drop = follower.TryRead();
        Assert.That(drop?.Reason, Is.EqualTo(DropReason.NoRoute));
        Assert.That(drop!.Layer, Is.EqualTo(TracedLayer.TunPacket));
        Assert.That(drop.Bytes, Is.EqualTo(lost));
    }

    [Test]
    public void More_peers_than_slots_share_the_unattributed_slot()
    {
        var traffic = new PeerTraffic(capacity: 3);
        Assert.That(traffic.SlotFor(A), Is.EqualTo(1));
        Assert.That(traffic.SlotFor(B), Is.EqualTo(2));
        Assert.That(traffic.SlotFor(C), Is.Zero);
        Assert.That(traffic.SlotFor(A), Is.EqualTo(1), "a slot is for good");
        var block = traffic.CreateBlock(TrafficDirection.Received);
        block.Add(0, 10, Environment.TickCount64);
        block.Add(99, 5, Environment.TickCount64); // out of range: unattributed, never out of bounds
        var snapshot = traffic.Snapshot();
        Assert.That(snapshot[0].Address, Is.EqualTo(default(Ipv4Address)));
        Assert.That((snapshot[0].ReceivedPackets, snapshot[0].ReceivedBytes), Is.EqualTo((2L, 15L)));
    }

    [Test]
    public void Counting_per_peer_and_tracing_drops_allocate_nothing_per_packet()
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, A);
        a.Route("10.244.2.0/24", B);
        var quiet = new OutboundPump(a.Tun, a.Table, [new UnderlayBinding(new FlannelUdpEncapsulation(Mtu), new BatchPipelineTests.DiscardingUnderlay())], a.Drops)
        {
            PeerTraffic = a.Traffic,
        };
        var good = PacketFactory.Udp(payloadLength: 100, dst: Ipv4Address.Parse("10.244.2.3"));
        var lost = PacketFactory.Udp(payloadLength: 100, dst: Ipv4Address.Parse("10.244.77.1"));
        var batch = new[] { FromTun(good), FromTun(lost) };
        using var follower = a.Drops.Trace.Follow();
        void Round()
        {
            for (int i = 0; i < 200; i++)
            {
                batch[0].Reset();
                batch[0].Load(good);
                batch[1].Reset();
                batch[1].Load(lost);
                quiet.Forward(batch);
            }
        }
        Allocations.AssertSteadyStateAllocatesNothing(Round);
        Assert.That(a.Traffic.Totals(B).SentPackets, Is.GreaterThanOrEqualTo(400));
        Assert.That(a.Drops[DropReason.NoRoute], Is.GreaterThanOrEqualTo(400));
    }
}

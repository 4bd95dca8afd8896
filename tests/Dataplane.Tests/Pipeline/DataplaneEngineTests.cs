using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tests.Fakes;

namespace Dataplane.Tests.Pipeline;

/// <summary>Two nodes wired through in-memory fakes: the pumps' logic without the kernel.</summary>
public class DataplaneEngineTests
{
    private sealed class Node : IDisposable
    {
        public readonly ChannelTunDevice Tun = new();
        public readonly ForwardingTable Table = new();
        public readonly PeerFilter Peers = new();
        public readonly DropCounters Drops = new();
        public readonly InMemoryUnderlay Udp;
        public readonly InMemoryUnderlay Vxlan;
        public readonly DataplaneEngine Engine;
        public readonly List<UnderlayEndpoint> Strangers = new();

        public Node(InMemoryNetwork net, string address, MacAddress mac)
        {
            Udp = net.Bind(address, 8285);
            Vxlan = net.Bind(address, 8472);
            Engine = new DataplaneEngine(Tun,
                [new UnderlayBinding(new FlannelUdpEncapsulation(1472), Udp), new UnderlayBinding(new VxlanEncapsulation(1, mac, 1450), Vxlan)],
                Table, Peers, Drops, s => { lock (Strangers) Strangers.Add(s); });
            Engine.Start();
        }

        public void Dispose() => Assert.That(Engine.Stop(TimeSpan.FromSeconds(2)), Is.True, "pump threads stop promptly");
    }

    private static readonly MacAddress MacA = MacAddress.Parse("02:00:00:00:00:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:00:00:00:0b");

    private static (Node A, Node B) Pair(EncapsulationKind kind)
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, "198.18.0.1", MacA);
        var b = new Node(net, "198.18.0.2", MacB);
        ushort port = kind == EncapsulationKind.Vxlan ? (ushort)8472 : (ushort)8285;
        a.Table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), port), kind, MacB, 1))]);
        b.Table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.1.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.1"), port), kind, MacA, 1))]);
        a.Peers.Replace([Ipv4Address.Parse("198.18.0.2")]);
        b.Peers.Replace([Ipv4Address.Parse("198.18.0.1")]);
        return (a, b);
    }

    [TestCase(EncapsulationKind.FlannelUdp, 2)]
    [TestCase(EncapsulationKind.Vxlan, 0)]
    public void PodToPod_BothWays(EncapsulationKind kind, int ttlLoss)
    {
        var (a, b) = Pair(kind);
        using (a)
        using (b)
        {
            var ping = PacketFactory.Ping(ttl: 63);
            a.Tun.Inject(ping);
            var arrived = b.Tun.NextWritten();
            Assert.That(arrived, Is.Not.Null, "delivered to the peer's TUN");
            var expected = (byte[])ping.Clone();
            expected[8] = (byte)(63 - ttlLoss);
            new Ipv4Header(expected).UpdateChecksum();
            Assert.That(arrived, Is.EqualTo(expected));

            var reply = PacketFactory.Udp(src: PacketFactory.PodB, dst: PacketFactory.PodA);
            b.Tun.Inject(reply);
            Assert.That(a.Tun.NextWritten(), Is.Not.Null);
            Assert.That(a.Engine.Outbound.Sent.Packets, Is.EqualTo(1));
            Assert.That(b.Engine.Inbound.Sum(p => p.Delivered.Packets), Is.EqualTo(1));
            Assert.That(a.Drops.Total + b.Drops.Total, Is.Zero, $"{a.Drops} / {b.Drops}");
        }
    }

    [Test]
    public void Vxlan_OuterTos_CarriesInnerEcn()
    {
        var (a, b) = Pair(EncapsulationKind.Vxlan);
        using (a)
        using (b)
        {
            a.Tun.Inject(PacketFactory.Udp(tos: 0x03));
            Assert.That(b.Tun.NextWritten(), Is.Not.Null);
            Assert.That(a.Vxlan.SentTos.Single(), Is.EqualTo(0x02));
        }
    }

    [Test]
    public void NoRoute_IcmpNetUnreachable_BackIntoTheTun_RateLimited()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        using (a)
        using (b)
        {
            var lost = Ipv4Address.Parse("10.244.77.7");
            for (int i = 0; i < 10; i++)
                a.Tun.Inject(PacketFactory.Udp(dst: lost));
            var icmp = a.Tun.NextWritten();
            Assert.That(icmp, Is.Not.Null);
            var ip = new Ipv4Header(icmp);
            Assert.That(ip.Protocol, Is.EqualTo(IpProtocol.Icmp));
            Assert.That(ip.SourceAddress, Is.EqualTo(lost), "not a local address of the node, so not a martian");
            Assert.That(ip.DestinationAddress, Is.EqualTo(PacketFactory.PodA));
            Assert.That(icmp![20], Is.EqualTo(3));
            Assert.That(icmp[21], Is.EqualTo(0));
            // Per-destination burst of 6, like the kernel's inet_peer limit.
            int more = 0;
            while (a.Tun.NextWritten(300) is not null)
                more++;
            Assert.That(1 + more, Is.EqualTo(6));
            Assert.That(a.Drops[DropReason.NoRoute], Is.EqualTo(10));
        }
    }

    [Test]
    public void Stranger_IsDroppedCounted_AndReportedOnce()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        using (a)
        using (b)
        {
            for (int i = 0; i < 3; i++)
                b.Udp.InjectFrom("198.18.0.99", 8285, PacketFactory.Ping());
            b.Udp.InjectFrom("198.18.0.1", 8285, PacketFactory.Udp());
            Assert.That(b.Tun.NextWritten(), Is.Not.Null, "the leased peer still gets through");
            Assert.That(b.Tun.NextWritten(200), Is.Null, "no stranger packet reached the TUN");
            Assert.That(b.Drops[DropReason.UnknownSource], Is.EqualTo(3));
            lock (b.Strangers)
                Assert.That(b.Strangers, Has.Count.EqualTo(1));
        }
    }

    [Test]
    public void Malformed_And_Oversized_AreCountedDrops()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        using (a)
        using (b)
        {
            b.Udp.InjectFrom("198.18.0.1", 8285, [1, 2, 3]);
            b.Udp.InjectFrom("198.18.0.1", 8285, PacketFactory.Udp(payloadLength: 1472));
            b.Udp.InjectFrom("198.18.0.1", 8285, PacketFactory.Udp(ttl: 1));
            b.Udp.InjectFrom("198.18.0.1", 8285, PacketFactory.Udp());
            Assert.That(b.Tun.NextWritten(), Is.Not.Null);
            Assert.That(b.Drops[DropReason.Truncated], Is.EqualTo(1));
            Assert.That(b.Drops[DropReason.TooBig], Is.EqualTo(1));
            Assert.That(b.Drops[DropReason.TtlExpired], Is.EqualTo(1));
            a.Tun.Inject(PacketFactory.Udp6());
            SpinWait.SpinUntil(() => a.Drops[DropReason.BadIpVersion] == 1, 2000);
            Assert.That(a.Drops[DropReason.BadIpVersion], Is.EqualTo(1));
        }
    }

    [Test]
    public void RouteRemoved_TrafficStops()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        using (a)
        using (b)
        {
            a.Table.Apply([RouteUpdate.Remove(Ipv4Prefix.Parse("10.244.2.0/24"))]);
            a.Tun.Inject(PacketFactory.Udp());
            Assert.That(b.Tun.NextWritten(300), Is.Null);
            Assert.That(a.Tun.NextWritten(), Is.Not.Null, "the sender gets the ICMP error instead");
        }
    }
}

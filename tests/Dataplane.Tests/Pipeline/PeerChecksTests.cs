using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tests.Fakes;

namespace Dataplane.Tests.Pipeline;

/// <summary>What a peer may inject: the inner checks of <see cref="PeerFilter"/> and the ARP responder's limits.</summary>
public class PeerChecksTests
{
    private static readonly Ipv4Address PeerA = Ipv4Address.Parse("198.18.0.2");
    private static readonly Ipv4Address PeerB = Ipv4Address.Parse("198.18.0.3");
    private static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:02");

    private sealed class ManualTime : TimeProvider
    {
        public long Now = 1_000_000;
        public override long TimestampFrequency => 1_000_000;
        public override long GetTimestamp() => Now;
    }

    private static PeerFilter Filter(bool enabled = true)
    {
        var table = new ForwardingTable();
        table.Apply([
            RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(new UnderlayEndpoint(PeerA, 8472), EncapsulationKind.Vxlan, PeerMac, 1)),
            RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.3.0/24"), new NextHop(new UnderlayEndpoint(PeerB, 8472), EncapsulationKind.Vxlan, PeerMac, 1)),
        ]);
        var filter = new PeerFilter { Enabled = enabled, LocalSubnet = Ipv4Prefix.Parse("10.244.1.0/24"), Routes = table };
        filter.Replace([PeerA, PeerB]);
        return filter;
    }

    private static byte[] Packet(string src, string dst) =>
        PacketFactory.Udp(src: Ipv4Address.Parse(src), dst: Ipv4Address.Parse(dst));

    [TestCase("10.244.2.5", "10.244.1.7", DropReason.None, TestName = "peer's pod to our pod")]
    [TestCase("10.244.2.0", "10.244.1.0", DropReason.None, TestName = "peer's TUN address to ours")]
    [TestCase("198.18.0.2", "10.244.1.7", DropReason.None, TestName = "peer's PublicIP (host traffic) to our pod")]
    [TestCase("10.244.2.5", "198.18.0.1", DropReason.InnerDestinationNotLocal, TestName = "to the node's underlay address")]
    [TestCase("10.244.2.5", "10.244.3.9", DropReason.InnerDestinationNotLocal, TestName = "to another node's pod (relay)")]
    [TestCase("10.244.2.5", "8.8.8.8", DropReason.InnerDestinationNotLocal, TestName = "to the internet (open NAT with --ip-masq)")]
    [TestCase("10.244.3.9", "10.244.1.7", DropReason.InnerSourceNotPeer, TestName = "source in another peer's subnet")]
    [TestCase("10.244.1.9", "10.244.1.7", DropReason.InnerSourceNotPeer, TestName = "source in our own subnet")]
    [TestCase("192.0.2.1", "10.244.1.7", DropReason.InnerSourceNotPeer, TestName = "source outside the network")]
    [TestCase("198.18.0.3", "10.244.1.7", DropReason.InnerSourceNotPeer, TestName = "another peer's PublicIP")]
    public void Inner_checks(string src, string dst, DropReason expected)
    {
        Assert.That(Filter().CheckInner(PeerA, Packet(src, dst)), Is.EqualTo(expected));
    }

    [Test]
    public void Inner_ipv6_is_a_counted_reason_and_the_escape_hatch_turns_every_check_off()
    {
        Assert.That(Filter().CheckInner(PeerA, PacketFactory.Udp6()), Is.EqualTo(DropReason.InnerIpv6));
        Assert.That(Filter(enabled: false).CheckInner(PeerA, Packet("192.0.2.1", "8.8.8.8")), Is.EqualTo(DropReason.None));
        Assert.That(Filter(enabled: false).IsPeersAddress(PeerA, Ipv4Address.Parse("192.0.2.1")), Is.True);
    }

    [Test]
    public void Vxlan_inner_ipv6_through_the_pump_is_dropped_and_counted_not_written()
    {
        var net = new InMemoryNetwork();
        var tun = new ChannelTunDevice();
        var udp = net.Bind("198.18.0.1", 8472);
        var drops = new DropCounters();
        var vxlan = new VxlanEncapsulation(1, OurMac, 1450);
        var pump = new InboundPump(new UnderlayBinding(vxlan, udp), tun, Filter(), drops);
        var frame = new PacketBuffer(2048);
        frame.Load(PacketFactory.Udp6());
        new VxlanEncapsulation(1, PeerMac, 1450).Encapsulate(frame, new NextHop(default, EncapsulationKind.Vxlan, OurMac, 1));
        udp.InjectFrom("198.18.0.2", 8472, frame.Data.ToArray());
        Assert.That(pump.Pump(wait: false).IsOk);
        Assert.That(drops[DropReason.InnerIpv6], Is.EqualTo(1));
        Assert.That(tun.Written, Is.Empty);
    }

    private static PacketBuffer ArpRequest(Ipv4Address senderIp, Ipv4Address target, MacAddress? frameSource = null, bool broadcast = false)
    {
        var b = new PacketBuffer(2048);
        var bytes = new byte[VxlanHeader.Length + EthernetHeader.Length + ArpPacket.Length];
        VxlanHeader.Write(bytes, 1);
        EthernetHeader.Write(bytes.AsSpan(VxlanHeader.Length), broadcast ? MacAddress.Broadcast : OurMac, frameSource ?? PeerMac, EtherType.Arp);
        ArpPacket.Write(bytes.AsSpan(VxlanHeader.Length + EthernetHeader.Length), ArpPacket.OperationRequest, PeerMac, senderIp, default, target);
        b.Load(bytes);
        b.Peer = new UnderlayEndpoint(PeerA, 40000);
        return b;
    }

    [Test]
    public void Arp_requests_are_answered_only_when_well_formed_from_the_peer_and_within_the_rate_limit()
    {
        var time = new ManualTime();
        var filter = Filter();
        var responder = new VxlanArpResponder(new VxlanEncapsulation(1, OurMac, 1450), Ipv4Prefix.Parse("10.244.1.0/24"), filter.IsPeersAddress,
            repliesPerSecond: 10, burst: 3, time: time);
        var peerTun = Ipv4Address.Parse("10.244.2.0");
        var ours = Ipv4Address.Parse("10.244.1.0");

        Assert.That(responder.TryAnswer(ArpRequest(peerTun, ours)), Is.EqualTo(ArpOutcome.Answered));
        Assert.That(responder.TryAnswer(ArpRequest(peerTun, ours, broadcast: true)), Is.EqualTo(ArpOutcome.Answered), "broadcast requests too, answered unicast");
        Assert.That(responder.TryAnswer(ArpRequest(Ipv4Address.Parse("10.244.3.0"), ours)), Is.EqualTo(ArpOutcome.Refused), "ARP sender not the peer's");
        Assert.That(responder.TryAnswer(ArpRequest(peerTun, ours, frameSource: MacAddress.Parse("02:00:00:00:00:99"))), Is.EqualTo(ArpOutcome.Refused), "ARP sender MAC is not the frame's");
        Assert.That(responder.TryAnswer(ArpRequest(peerTun, Ipv4Address.Parse("10.244.9.9"))), Is.EqualTo(ArpOutcome.NotArp), "not for our subnet: not ours to answer");

        // Burst of 3 (two used above), then 10 a second.
        Assert.That(responder.TryAnswer(ArpRequest(peerTun, ours)), Is.EqualTo(ArpOutcome.Answered));
        int answered = Enumerable.Range(0, 100).Count(_ => responder.TryAnswer(ArpRequest(peerTun, ours)) == ArpOutcome.Answered);
        Assert.That(answered, Is.Zero, "a flood gets nothing once the burst is spent");
        time.Now += 1_000_000;
        answered = Enumerable.Range(0, 100).Count(_ => responder.TryAnswer(ArpRequest(peerTun, ours)) == ArpOutcome.Answered);
        Assert.That(answered, Is.EqualTo(3), "one second later: the burst again (10/s refill capped at the burst)");
        Assert.That(responder.Answered, Is.EqualTo(6));
        Assert.That(responder.Refused, Is.EqualTo(2 + 100 + 97));
    }
}

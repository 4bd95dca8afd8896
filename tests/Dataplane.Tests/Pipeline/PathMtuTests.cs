using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tests.Fakes;
using PacketDotNet;

namespace Dataplane.Tests.Pipeline;

/// <summary>
/// Path MTU discovery towards peers of a smaller encapsulation (a pod that kept udp's 1472 sending to a vxlan peer,
/// 1450): a DF packet that does not fit is answered with ICMP fragmentation-needed carrying the peer's MTU, never
/// dropped silently; a packet that fits goes out.
/// </summary>
public class PathMtuTests
{
    private static readonly MacAddress Ours = MacAddress.Parse("02:00:00:00:00:0a");

    private static (OutboundPump Pump, ChannelTunDevice Tun, DropCounters Drops) VxlanNode()
    {
        var tun = new ChannelTunDevice();
        var table = new ForwardingTable();
        table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"),
            new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8472), EncapsulationKind.Vxlan, MacAddress.Parse("02:00:00:00:00:0b"), 1))]);
        var drops = new DropCounters();
        var pump = new OutboundPump(tun, table, [new UnderlayBinding(new VxlanEncapsulation(1, Ours, 1450), new BatchPipelineTests.DiscardingUnderlay())], drops);
        return (pump, tun, drops);
    }

    private static PacketBuffer Buffer(byte[] packet)
    {
        var b = new PacketBuffer(PacketBufferPool.LargeBufferSize);
        b.Load(packet);
        return b;
    }

    [Test]
    public void Df_packet_larger_than_the_peers_encapsulation_gets_fragmentation_needed_with_its_mtu()
    {
        var (pump, tun, drops) = VxlanNode();
        var big = PacketFactory.Udp(payloadLength: 1472 - 28, dst: PacketFactory.PodB); // 1472 bytes, DF set
        pump.Forward([Buffer(big)]);
        Assert.That(drops[DropReason.TooBig], Is.EqualTo(1), "counted");
        Assert.That(pump.IcmpSent, Is.EqualTo(1));
        var reply = tun.NextWritten(1000);
        Assert.That(reply, Is.Not.Null, "an ICMP error went back into the TUN");
        var ip = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(reply));
        var icmp = ip.Extract<IcmpV4Packet>();
        Assert.Multiple(() =>
        {
            Assert.That(ip.DestinationAddress.ToString(), Is.EqualTo(PacketFactory.PodA.ToString()), "back to the sender");
            Assert.That(ip.SourceAddress.ToString(), Is.EqualTo(PacketFactory.PodB.ToString()), "from the destination (not a martian)");
            Assert.That(icmp.TypeCode, Is.EqualTo(IcmpV4TypeCode.UnreachableFragmentationNeeded));
            Assert.That(icmp.ValidIcmpChecksum, Is.True);
            Assert.That(reply!.AsSpan(20 + 6, 2).ToArray(), Is.EqualTo(new byte[] { 1450 >> 8, 1450 & 0xFF }), "next-hop MTU (RFC 1191)");
        });
    }

    [Test]
    public void Packet_that_fits_goes_out_and_df_clear_too_big_is_a_counted_drop_without_icmp()
    {
        var (pump, tun, drops) = VxlanNode();
        pump.Forward([Buffer(PacketFactory.Udp(payloadLength: 1450 - 28))]);
        Assert.That(drops.Total, Is.Zero);
        var noDf = PacketFactory.Udp(payloadLength: 1472 - 28);
        noDf[6] = 0;
        new Ipv4Header(noDf).UpdateChecksum();
        pump.Forward([Buffer(noDf)]);
        Assert.That(drops[DropReason.TooBig], Is.EqualTo(1));
        Assert.That(pump.IcmpSent, Is.Zero);
        Assert.That(tun.NextWritten(100), Is.Null);
    }
}

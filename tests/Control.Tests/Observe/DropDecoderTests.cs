using System.Net;
using Control.Observe;
using PacketDotNet;

namespace Control.Tests.Observe;

/// <summary>How <c>drops --follow</c> decodes what the daemon captured: each layer, cut short or garbage, never a throw.</summary>
public class DropDecoderTests
{
    private static byte[] Udp(int payload = 8)
    {
        var udp = new UdpPacket(4242, 53) { PayloadData = new byte[payload] };
        var ip = new IPv4Packet(IPAddress.Parse("10.244.9.9"), IPAddress.Parse("10.244.1.2")) { PayloadPacket = udp, TimeToLive = 63 };
        udp.UpdateUdpChecksum();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }

    [Test]
    public void A_flannel_udp_payload_is_the_inner_IPv4_packet()
    {
        Assert.That(DropDecoder.Decode("flannel-udp", Udp()), Is.EqualTo("IPv4 10.244.9.9 > 10.244.1.2 ttl 63 len 36, UDP 4242 > 53 len 16"));
    }

    [Test]
    public void A_vxlan_payload_shows_the_vni_the_inner_frame_and_its_packet()
    {
        var eth = new EthernetPacket(System.Net.NetworkInformation.PhysicalAddress.Parse("02-00-00-00-00-0A"), System.Net.NetworkInformation.PhysicalAddress.Parse("02-00-00-00-00-0B"), EthernetType.IPv4)
        {
            PayloadPacket = Packet.ParsePacket(LinkLayers.Raw, Udp()),
        };
        byte[] vxlan = [0x08, 0, 0, 0, 0, 0, 1, 0, .. eth.Bytes];
        var text = DropDecoder.Decode("vxlan", vxlan);
        Assert.That(text, Does.StartWith("VXLAN flags 0x08 VNI 1, Ethernet 02000000000A > 02000000000B IPv4"));
        Assert.That(text, Does.Contain("IPv4 10.244.9.9 > 10.244.1.2").And.Contain("UDP 4242 > 53"));
    }

    [Test]
    public void A_snapshot_cut_at_128_bytes_still_decodes_its_headers()
    {
        var big = Udp(payload: 1000);
        var text = DropDecoder.Decode("ip", big[..128]);
        Assert.That(text, Does.Contain("IPv4 10.244.9.9 > 10.244.1.2").And.Contain("len 1028"));
    }

    [TestCase("ip", new byte[] { })]
    [TestCase("ip", new byte[] { 0x45, 0, 0 })]
    [TestCase("flannel-udp", new byte[] { 0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9 })]
    [TestCase("vxlan", new byte[] { 8, 0, 0 })]
    [TestCase("vxlan", new byte[] { 8, 0, 0, 0, 0, 0, 1, 0, 0xff })]
    public void Garbage_is_shown_not_thrown(string layer, byte[] bytes)
    {
        Assert.That(() => DropDecoder.Decode(layer, bytes), Throws.Nothing);
        var drop = new DropEntry(1, DateTimeOffset.UnixEpoch, "Truncated", "in", layer, "198.18.0.9:8285", bytes.Length, bytes, 2);
        Assert.That(DropDecoder.Describe(drop), Does.StartWith("00:00:00.000 Truncated in from 198.18.0.9:8285").And.Contain("2 earlier drops not shown"));
    }
}

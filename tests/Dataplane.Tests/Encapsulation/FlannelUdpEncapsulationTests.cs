using System.Net;
using CsCheck;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using PacketDotNet;

namespace Dataplane.Tests.Encapsulation;

public class FlannelUdpEncapsulationTests
{
    private static readonly NextHop ToPeer = new(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8285), EncapsulationKind.FlannelUdp);
    private static readonly FlannelUdpEncapsulation Udp = new(1472);

    [Test]
    public void Encapsulate_PayloadIsTheBareIpv4Packet_WithTtlDecremented()
    {
        var inner = PacketFactory.Udp(payloadLength: 200, ttl: 63);
        var buf = PacketFactory.Buffer(inner);
        Assert.That(Udp.Encapsulate(buf, ToPeer), Is.EqualTo(DropReason.None));
        Assert.That(buf.Peer, Is.EqualTo(ToPeer.Endpoint));
        Assert.That(buf.Headroom, Is.EqualTo(64), "nothing prepended");
        var pdn = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(buf.Data.ToArray()));
        Assert.That(pdn.TimeToLive, Is.EqualTo(62));
        Assert.That(pdn.ValidIPChecksum, Is.True);
        Assert.That(pdn.SourceAddress, Is.EqualTo(IPAddress.Parse("10.244.1.2")));
        Assert.That(pdn.Extract<UdpPacket>().ValidUdpChecksum, Is.True, "inner checksums untouched and still valid");
        // Everything but TTL and header checksum is byte-identical.
        var expected = (byte[])inner.Clone();
        expected[8] = 62;
        new Ipv4Header(expected).UpdateChecksum();
        Assert.That(buf.Data.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void RoundTrip_LosesTwoFromTtl_AsFlannel()
    {
        var inner = PacketFactory.Ping(ttl: 63);
        var buf = PacketFactory.Buffer(inner);
        Udp.Encapsulate(buf, ToPeer);
        Assert.That(Udp.Decapsulate(buf), Is.EqualTo(DropReason.None));
        var h = new Ipv4Header(buf.Data);
        Assert.That(h.TimeToLive, Is.EqualTo(61));
        Assert.That(h.IsChecksumValid, Is.True);
    }

    [TestCase(1)]
    [TestCase(0)]
    public void TtlExpiry_Dropped(int ttl)
    {
        Assert.That(Udp.Encapsulate(PacketFactory.Buffer(PacketFactory.Udp(ttl: (byte)ttl)), ToPeer), Is.EqualTo(DropReason.TtlExpired));
        Assert.That(Udp.Decapsulate(PacketFactory.Buffer(PacketFactory.Udp(ttl: (byte)ttl))), Is.EqualTo(DropReason.TtlExpired));
    }

    [Test]
    public void LargerThanTunMtu_IsCountedDrop_NotTruncated()
    {
        Assert.That(Udp.Decapsulate(PacketFactory.Buffer(PacketFactory.Udp(payloadLength: 1472 - 28 + 1), 4096)), Is.EqualTo(DropReason.TooBig));
        Assert.That(Udp.Decapsulate(PacketFactory.Buffer(PacketFactory.Udp(payloadLength: 1472 - 28), 4096)), Is.EqualTo(DropReason.None));
        Assert.That(Udp.Encapsulate(PacketFactory.Buffer(PacketFactory.Udp(payloadLength: 1472 - 28 + 1), 4096), ToPeer), Is.EqualTo(DropReason.TooBig));
    }

    [Test]
    public void Ipv6_IsNotCarried()
    {
        Assert.That(Udp.Encapsulate(PacketFactory.Buffer(PacketFactory.Udp6()), ToPeer), Is.EqualTo(DropReason.BadIpVersion), "our TUN's IPv6 chatter");
        Assert.That(Udp.Decapsulate(PacketFactory.Buffer(PacketFactory.Udp6())), Is.EqualTo(DropReason.InnerIpv6), "a peer's: named as the VXLAN peer check names it");
    }

    [Test]
    public void TruncatedAtEveryOffset_DropsWithReason()
    {
        var full = PacketFactory.Udp(payloadLength: 30, optionsLength: 8);
        for (int n = 0; n < full.Length; n++)
        {
            var reason = DropReason.None;
            Assert.DoesNotThrow(() => reason = Udp.Decapsulate(PacketFactory.Buffer(full.AsSpan(0, n))));
            Assert.That(reason, Is.Not.EqualTo(DropReason.None), $"length {n}");
        }
    }

    [Test]
    public void TrailingBytes_AreTrimmedToTotalLength()
    {
        var inner = PacketFactory.Udp(payloadLength: 10);
        var buf = PacketFactory.Buffer(inner.Concat(new byte[7]).ToArray());
        Assert.That(Udp.Decapsulate(buf), Is.EqualTo(DropReason.None));
        Assert.That(buf.Length, Is.EqualTo(inner.Length));
    }

    [Test]
    public void RandomMutations_NeverThrow()
    {
        var full = PacketFactory.Udp(payloadLength: 24);
        Gen.Int[0, full.Length - 1].Array[1, 4].Select(Gen.Byte.Array[4], Gen.Int[0, full.Length]).Sample((pos, vals, cut) =>
        {
            var bytes = (byte[])full.Clone();
            for (int i = 0; i < pos.Length; i++)
                bytes[pos[i]] = vals[i];
            var buf = PacketFactory.Buffer(bytes.AsSpan(0, cut));
            var r = Udp.Decapsulate(buf);
            return r != DropReason.None || new Ipv4Header(buf.Data).IsChecksumValid == new Ipv4Header(bytes).IsChecksumValid;
        }, iter: 20000);
    }

    [Test]
    public void Property_RoundTrip_IsIdentity_ExceptTtlMinusTwo()
    {
        Gen.Select(Gen.Int[0, 1400], Gen.Byte[3, 255], Gen.Byte, Gen.Int[0, 10]).Sample((len, ttl, tos, opt) =>
        {
            var inner = PacketFactory.Udp(payloadLength: len, ttl: ttl, tos: tos, optionsLength: opt * 4);
            var buf = PacketFactory.Buffer(inner);
            var enc = new FlannelUdpEncapsulation();
            if (enc.Encapsulate(buf, ToPeer) != DropReason.None || enc.Decapsulate(buf) != DropReason.None)
                return false;
            var expected = (byte[])inner.Clone();
            expected[8] = (byte)(ttl - 2);
            new Ipv4Header(expected).UpdateChecksum();
            return buf.Data.SequenceEqual(expected);
        }, iter: 2000);
    }
}

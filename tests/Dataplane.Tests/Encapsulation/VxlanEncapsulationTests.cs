using System.Net;
using System.Net.NetworkInformation;
using CsCheck;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using PacketDotNet;
using PacketDotNet.Utils;

namespace Dataplane.Tests.Encapsulation;

public class VxlanEncapsulationTests
{
    private static readonly MacAddress Ours = MacAddress.Parse("02:aa:00:00:00:01");
    private static readonly MacAddress Peer = MacAddress.Parse("0a:bb:00:00:00:02");
    private static readonly NextHop ToPeer = new(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), 8472), EncapsulationKind.Vxlan, Peer, 1);

    private static VxlanEncapsulation Local(uint vni = 1) => new(vni, Ours, 1450);

    [Test]
    public void Encapsulate_ProducesKernelLayout()
    {
        var inner = PacketFactory.Udp(payloadLength: 100);
        var buf = PacketFactory.Buffer(inner);
        Assert.That(Local().Encapsulate(buf, ToPeer), Is.EqualTo(DropReason.None));
        var hex = Convert.ToHexString(buf.Data[..22]).ToLowerInvariant();
        // 08 00 00 00 | 00 00 01 00 | dst=peer MAC | src=our MAC | 0800
        Assert.That(hex, Is.EqualTo("08000000" + "00000100" + "0abb00000002" + "02aa00000001" + "0800"));
        Assert.That(buf.Data[22..].ToArray(), Is.EqualTo(inner), "inner packet untouched (no TTL change over VXLAN)");
        Assert.That(buf.Peer, Is.EqualTo(ToPeer.Endpoint));
        Assert.That(buf.Length, Is.EqualTo(inner.Length + 22));
    }

    [Test]
    public void Encapsulate_UsesOurVni_NotThePeers()
    {
        // Linux flannel nodes send with their own device VNI and never read the peer's (flannel.md §3).
        var buf = PacketFactory.Buffer(PacketFactory.Udp());
        Local(vni: 7).Encapsulate(buf, ToPeer with { Vni = 99 });
        Assert.That(new VxlanHeader(buf.Data).Vni, Is.EqualTo(7u));
    }

    [Test]
    public void EncapsulatedFrame_DecodedByPacketDotNet_FieldByField()
    {
        // Build the whole frame a kernel would put on the wire: outer Ethernet/IPv4/UDP around our payload,
        // then let PacketDotNet (an independent decoder) take it apart.
        var inner = PacketFactory.Udp(payloadLength: 64, tos: 0x03);
        var buf = PacketFactory.Buffer(inner);
        Assert.That(Local().Encapsulate(buf, ToPeer), Is.EqualTo(DropReason.None));
        Assert.That(buf.OuterTos, Is.EqualTo(0x02), "CE inner becomes ECT(0) outer");

        var payload = buf.Data.ToArray();
        var outer = new UdpPacket(40000, 4789) { PayloadData = payload }; // 4789 so PacketDotNet recognises VXLAN
        var ip = new IPv4Packet(IPAddress.Parse("198.18.0.1"), IPAddress.Parse("198.18.0.2")) { PayloadPacket = outer, TimeToLive = 64 };
        var eth = new EthernetPacket(PhysicalAddress.Parse("02-00-00-00-00-0A"), PhysicalAddress.Parse("02-00-00-00-00-0B"), EthernetType.IPv4) { PayloadPacket = ip };
        outer.UpdateUdpChecksum();
        ip.UpdateIPChecksum();
        var parsed = Packet.ParsePacket(LinkLayers.Ethernet, eth.Bytes);

        var vx = parsed.Extract<VxlanPacket>();
        Assert.That(vx, Is.Not.Null, "PacketDotNet decodes the VXLAN header");
        Assert.That(vx.Vni, Is.EqualTo(1));
        var innerEth = vx.PayloadPacket as EthernetPacket;
        Assert.That(innerEth, Is.Not.Null);
        Assert.That(innerEth!.DestinationHardwareAddress.ToString(), Is.EqualTo("0ABB00000002"));
        Assert.That(innerEth.SourceHardwareAddress.ToString(), Is.EqualTo("02AA00000001"));
        Assert.That(innerEth.Type, Is.EqualTo(EthernetType.IPv4));
        var innerIp = innerEth.Extract<IPv4Packet>();
        Assert.That(innerIp.SourceAddress, Is.EqualTo(IPAddress.Parse("10.244.1.2")));
        Assert.That(innerIp.DestinationAddress, Is.EqualTo(IPAddress.Parse("10.244.2.3")));
        Assert.That(innerIp.ValidIPChecksum, Is.True);
        Assert.That(innerEth.Extract<UdpPacket>().ValidUdpChecksum, Is.True);
    }

    [Test]
    public void Ipv6Inner_GetsEtherType86DD()
    {
        var buf = PacketFactory.Buffer(PacketFactory.Udp6(trafficClass: 0x01));
        Assert.That(Local().Encapsulate(buf, ToPeer), Is.EqualTo(DropReason.None));
        Assert.That(new EthernetHeader(buf.Data[8..]).EtherType, Is.EqualTo(EtherType.Ipv6));
        Assert.That(buf.OuterTos, Is.EqualTo(0x01));
        Assert.That(Remote().Decapsulate(buf), Is.EqualTo(DropReason.None));
        Assert.That(buf.Data.ToArray(), Is.EqualTo(PacketFactory.Udp6(trafficClass: 0x01)));
    }

    // The peer's view of our frames: its MAC is Peer, it sees our MAC as the source.
    private static VxlanEncapsulation Remote(uint vni = 1) => new(vni, Peer, 1450);

    [Test]
    public void Decapsulate_Accepts_OurFrame_AtThePeer()
    {
        var inner = PacketFactory.Ping();
        var buf = PacketFactory.Buffer(inner);
        Local().Encapsulate(buf, ToPeer);
        Assert.That(Remote().Decapsulate(buf), Is.EqualTo(DropReason.None));
        Assert.That(buf.Data.ToArray(), Is.EqualTo(inner));
    }

    private static PacketBuffer Framed(Action<byte[]>? mutate = null, byte[]? inner = null)
    {
        var buf = PacketFactory.Buffer(inner ?? PacketFactory.Udp());
        Local().Encapsulate(buf, ToPeer);
        var bytes = buf.Data.ToArray();
        mutate?.Invoke(bytes);
        return PacketFactory.Buffer(bytes);
    }

    [Test]
    public void Decapsulate_WrongVni_Dropped() =>
        Assert.That(Remote(vni: 2).Decapsulate(Framed()), Is.EqualTo(DropReason.VniMismatch));

    [Test]
    public void Decapsulate_FlagsOrReserved_Dropped()
    {
        foreach (var (index, value) in new[] { (0, 0x00), (0, 0x88), (0, 0x0C), (1, 0x01), (3, 0x01), (7, 0x01) })
            Assert.That(Remote().Decapsulate(Framed(b => b[index] = (byte)value)), Is.EqualTo(DropReason.VxlanInvalidHeader), $"byte {index} = {value:x2}");
    }

    [Test]
    public void Decapsulate_InnerDestinationNotOurs_Dropped()
    {
        Assert.That(Remote().Decapsulate(Framed(b => b[8] ^= 0x04)), Is.EqualTo(DropReason.InnerDestinationNotOurs));
        Assert.That(Remote().Decapsulate(Framed(b => MacAddress.Broadcast.Write(b.AsSpan(8)))), Is.EqualTo(DropReason.InnerDestinationNotOurs));
    }

    [Test]
    public void Decapsulate_InnerSourceIsOurs_Dropped() =>
        Assert.That(Remote().Decapsulate(Framed(b => Peer.Write(b.AsSpan(14)))), Is.EqualTo(DropReason.InnerSourceIsOurs));

    [Test]
    public void Decapsulate_OtherEtherTypes_Dropped()
    {
        Assert.That(Remote().Decapsulate(Framed(b => { b[20] = 0x08; b[21] = 0x06; })), Is.EqualTo(DropReason.UnsupportedEtherType));
        Assert.That(Remote().Decapsulate(Framed(b => { b[20] = 0x81; b[21] = 0x00; })), Is.EqualTo(DropReason.UnsupportedEtherType));
    }

    [Test]
    public void Decapsulate_TooBigForOurMtu_Dropped()
    {
        var big = PacketFactory.Udp(payloadLength: 1500);
        var buf = PacketFactory.Buffer(big, 4096);
        new VxlanEncapsulation(1, Ours).Encapsulate(buf, ToPeer);
        Assert.That(Remote().Decapsulate(buf), Is.EqualTo(DropReason.TooBig));
    }

    [Test]
    public void Encapsulate_TooBig_And_Garbage_Dropped()
    {
        Assert.That(Local().Encapsulate(PacketFactory.Buffer(PacketFactory.Udp(payloadLength: 1500), 4096), ToPeer), Is.EqualTo(DropReason.TooBig));
        Assert.That(Local().Encapsulate(PacketFactory.Buffer([0x11, 0x22, 0x33]), ToPeer), Is.EqualTo(DropReason.BadIpVersion));
        Assert.That(Local().Encapsulate(PacketFactory.Buffer([]), ToPeer), Is.EqualTo(DropReason.Truncated));
    }

    [Test]
    public void Decapsulate_TrimsEthernetPadding()
    {
        var inner = PacketFactory.Udp(payloadLength: 2);
        var buf = Framed(inner: inner);
        var padded = buf.Data.ToArray().Concat(new byte[16]).ToArray();
        var b2 = PacketFactory.Buffer(padded);
        Assert.That(Remote().Decapsulate(b2), Is.EqualTo(DropReason.None));
        Assert.That(b2.Data.ToArray(), Is.EqualTo(inner));
    }

    [Test]
    public void Decapsulate_TruncatedAtEveryOffset_DropsWithReason_NeverThrows()
    {
        var full = Framed().Data.ToArray();
        for (int n = 0; n < full.Length; n++)
        {
            var buf = PacketFactory.Buffer(full.AsSpan(0, n));
            var reason = DropReason.None;
            Assert.DoesNotThrow(() => reason = Remote().Decapsulate(buf), $"length {n}");
            Assert.That(reason, Is.Not.EqualTo(DropReason.None), $"length {n}");
        }
    }

    [Test]
    public void RandomMutations_NeverThrow_AndAcceptedFramesAreConsistent()
    {
        var full = Framed(inner: PacketFactory.Udp(payloadLength: 40)).Data.ToArray();
        Gen.Int[0, full.Length - 1].Array[1, 6].Select(Gen.Byte.Array[6], Gen.Int[0, full.Length]).Sample((positions, values, cut) =>
        {
            var bytes = (byte[])full.Clone();
            for (int i = 0; i < positions.Length; i++)
                bytes[positions[i]] = values[i];
            var buf = PacketFactory.Buffer(bytes.AsSpan(0, cut));
            var reason = Remote().Decapsulate(buf);
            if (reason != DropReason.None)
                return true;
            // Accepted: what is left must be a packet our own checked views accept.
            return buf.Data[0] >> 4 == 4 ? Ipv4Header.TryCreate(buf.Data, out _, out _) : Ipv6Header.TryCreate(buf.Data, out _, out _);
        }, iter: 20000);
    }

    [Test]
    public void Property_EncapsulateThenDecapsulate_IsIdentity()
    {
        var gen = Gen.Select(Gen.Int[0, 1400], Gen.Byte, Gen.Byte[1, 255], Gen.UInt[0, 0xFFFFFF], Gen.Int[0, 10]);
        gen.Sample((len, tos, ttl, vni, opt) =>
        {
            var inner = PacketFactory.Udp(payloadLength: len, tos: tos, ttl: ttl, optionsLength: opt * 4);
            var a = new VxlanEncapsulation(vni, Ours, 1450 + 40);
            var b = new VxlanEncapsulation(vni, Peer, 1450 + 40);
            var buf = PacketFactory.Buffer(inner);
            if (a.Encapsulate(buf, ToPeer) != DropReason.None)
                return inner.Length > 1490;
            return b.Decapsulate(buf) == DropReason.None && buf.Data.SequenceEqual(inner) && buf.Headroom == PacketBuffer.DefaultHeadroom;
        }, iter: 2000);
    }

    [Test]
    public void FlowSourcePort_IsStablePerFlow_AndInRange()
    {
        var a = PacketFactory.Udp(srcPort: 1111);
        var a2 = PacketFactory.Udp(srcPort: 1111, payloadLength: 500);
        var b = PacketFactory.Udp(srcPort: 2222);
        ushort pa = VxlanEncapsulation.FlowSourcePort(a);
        Assert.That(pa, Is.InRange(32768, 60998));
        Assert.That(VxlanEncapsulation.FlowSourcePort(a2), Is.EqualTo(pa));
        var ports = Enumerable.Range(0, 200).Select(i => VxlanEncapsulation.FlowSourcePort(PacketFactory.Udp(srcPort: (ushort)(1000 + i)))).Distinct().Count();
        Assert.That(ports, Is.GreaterThan(150), "flows spread over the range");
        Assert.That(VxlanEncapsulation.FlowSourcePort(b), Is.InRange(32768, 60998));
    }
}

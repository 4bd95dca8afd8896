using System.Net;
using Dataplane.Diagnostics;
using Dataplane.Packets;
using PacketDotNet;
using ArpPacket = Dataplane.Packets.ArpPacket;

namespace Dataplane.Tests.Packets;

public class HeaderViewTests
{
    [Test]
    public void Ipv4_Write_ReadBack_And_PacketDotNetAgrees()
    {
        var bytes = new byte[60];
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(0xB8, 60, 0xBEEF, true, 63, IpProtocol.Udp,
            Ipv4Address.Parse("198.18.0.1"), Ipv4Address.Parse("198.18.0.2")));
        Assert.Multiple(() =>
        {
            var h = new Ipv4Header(bytes);
            Assert.That(h.Version, Is.EqualTo(4));
            Assert.That(h.HeaderLength, Is.EqualTo(20));
            Assert.That(h.TypeOfService, Is.EqualTo(0xB8));
            Assert.That(h.TotalLength, Is.EqualTo(60));
            Assert.That(h.Identification, Is.EqualTo(0xBEEF));
            Assert.That(h.DontFragment, Is.True);
            Assert.That(h.MoreFragments, Is.False);
            Assert.That(h.TimeToLive, Is.EqualTo(63));
            Assert.That(h.Protocol, Is.EqualTo(IpProtocol.Udp));
            Assert.That(h.SourceAddress.ToString(), Is.EqualTo("198.18.0.1"));
            Assert.That(h.DestinationAddress.ToString(), Is.EqualTo("198.18.0.2"));
            Assert.That(h.IsChecksumValid, Is.True);
        });
        var pdn = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(bytes));
        Assert.Multiple(() =>
        {
            Assert.That(pdn.Version, Is.EqualTo(IPVersion.IPv4));
            Assert.That(pdn.TypeOfService, Is.EqualTo(0xB8));
            Assert.That(pdn.TotalLength, Is.EqualTo(60));
            Assert.That(pdn.Id, Is.EqualTo(0xBEEF));
            Assert.That(pdn.TimeToLive, Is.EqualTo(63));
            Assert.That(pdn.Protocol, Is.EqualTo(ProtocolType.Udp));
            Assert.That(pdn.SourceAddress, Is.EqualTo(IPAddress.Parse("198.18.0.1")));
            Assert.That(pdn.DestinationAddress, Is.EqualTo(IPAddress.Parse("198.18.0.2")));
            Assert.That(pdn.ValidIPChecksum, Is.True);
            Assert.That(pdn.FragmentFlags & 0x2, Is.EqualTo(0x2), "DF");
        });
    }

    [Test]
    public void Ipv4_Options_AreCoveredByHeaderLength()
    {
        var bytes = PacketFactory.Udp(payloadLength: 10, optionsLength: 8);
        Assert.That(Ipv4Header.TryCreate(bytes, out var h, out _), Is.True);
        Assert.That(h.HeaderLength, Is.EqualTo(28));
        Assert.That(h.Options.Length, Is.EqualTo(8));
        Assert.That(h.IsChecksumValid, Is.True);
        Assert.That(h.Payload.Length, Is.EqualTo(18));
        var pdn = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(bytes));
        Assert.That(pdn.HeaderLength * 4, Is.EqualTo(28));
        Assert.That(pdn.Extract<UdpPacket>().ValidUdpChecksum, Is.True);
    }

    [Test]
    public void Ipv4_TryCreate_RejectsWithReason()
    {
        var good = PacketFactory.Udp();
        Assert.That(Ipv4Header.TryCreate(good.AsSpan(0, 19), out _, out var r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.Truncated));

        var v6 = (byte[])good.Clone();
        v6[0] = 0x65;
        Assert.That(Ipv4Header.TryCreate(v6, out _, out r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadIpVersion));

        var ihl = (byte[])good.Clone();
        ihl[0] = 0x44;
        Assert.That(Ipv4Header.TryCreate(ihl, out _, out r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadIpHeaderLength));

        var lying = (byte[])good.Clone();
        new Ipv4Header(lying).TotalLength = (ushort)(good.Length + 1);
        Assert.That(Ipv4Header.TryCreate(lying, out _, out r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadTotalLength));
        new Ipv4Header(lying).TotalLength = 19;
        Assert.That(Ipv4Header.TryCreate(lying, out _, out r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadTotalLength));
    }

    [TestCase(64, 63)]
    [TestCase(2, 1)]
    [TestCase(255, 254)]
    public void Ipv4_DecrementTtl_PatchesChecksum(int ttl, int expected)
    {
        var bytes = PacketFactory.Udp(ttl: (byte)ttl);
        var h = new Ipv4Header(bytes);
        Assert.That(h.TryDecrementTimeToLive(), Is.True);
        Assert.That(h.TimeToLive, Is.EqualTo(expected));
        Assert.That(h.IsChecksumValid, Is.True);
        var copy = (byte[])bytes.Clone();
        new Ipv4Header(copy).UpdateChecksum();
        Assert.That(new Ipv4Header(copy).HeaderChecksum, Is.EqualTo(h.HeaderChecksum), "incremental equals recomputed");
    }

    [TestCase(1)]
    [TestCase(0)]
    public void Ipv4_DecrementTtl_RefusesAtExpiry(int ttl)
    {
        var bytes = PacketFactory.Udp(ttl: (byte)ttl);
        var before = (byte[])bytes.Clone();
        Assert.That(new Ipv4Header(bytes).TryDecrementTimeToLive(), Is.False);
        Assert.That(bytes, Is.EqualTo(before), "packet untouched");
    }

    [Test]
    public void Udp_Checksum_MatchesPacketDotNet()
    {
        var bytes = PacketFactory.Udp(payloadLength: 33); // odd length exercises padding
        var pdn = new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(bytes));
        var udp = pdn.Extract<UdpPacket>();
        Assert.That(udp.ValidUdpChecksum, Is.True);
        Assert.That(udp.SourcePort, Is.EqualTo(40000));
        Assert.That(udp.DestinationPort, Is.EqualTo(5201));
        Assert.That(udp.Length, Is.EqualTo(41));
        var view = new UdpHeader(bytes.AsSpan(20));
        Assert.That(view.IsChecksumValidOrZero(PacketFactory.PodA, PacketFactory.PodB), Is.True);
        view.Checksum ^= 1;
        Assert.That(view.IsChecksumValidOrZero(PacketFactory.PodA, PacketFactory.PodB), Is.False);
        view.Checksum = 0;
        Assert.That(view.IsChecksumValidOrZero(PacketFactory.PodA, PacketFactory.PodB), Is.True, "zero = not computed, allowed over IPv4");
    }

    [Test]
    public void Udp_TryCreate_RejectsLyingLength()
    {
        var d = new byte[16];
        UdpHeader.Write(d, 1, 2, 17);
        Assert.That(UdpHeader.TryCreate(d, out _, out var r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadTotalLength));
        UdpHeader.Write(d, 1, 2, 7);
        Assert.That(UdpHeader.TryCreate(d, out _, out r), Is.False);
        UdpHeader.Write(d, 1, 2, 16);
        Assert.That(UdpHeader.TryCreate(d, out var ok, out _), Is.True);
        Assert.That(ok.Payload.Length, Is.EqualTo(8));
    }

    [Test]
    public void Ipv6_RoundTrip_And_PacketDotNetAgrees()
    {
        var bytes = PacketFactory.Udp6(payloadLength: 12, trafficClass: 0xB9);
        Assert.That(Ipv6Header.TryCreate(bytes, out var h, out _), Is.True);
        Assert.That(h.Version, Is.EqualTo(6));
        Assert.That(h.TrafficClass, Is.EqualTo(0xB9));
        Assert.That(h.FlowLabel, Is.EqualTo(0x12345));
        Assert.That(h.PayloadLength, Is.EqualTo(20));
        Assert.That(h.NextHeader, Is.EqualTo(IpProtocol.Udp));
        Assert.That(h.HopLimit, Is.EqualTo(64));
        var pdn = new IPv6Packet(new PacketDotNet.Utils.ByteArraySegment(bytes));
        Assert.That(pdn.TrafficClass, Is.EqualTo(0xB9));
        Assert.That(pdn.FlowLabel, Is.EqualTo(0x12345));
        Assert.That(pdn.PayloadLength, Is.EqualTo(20));
        Assert.That(pdn.SourceAddress, Is.EqualTo(IPAddress.Parse("fd00::1")));
        h.TrafficClass = 0x03;
        Assert.That(h.TrafficClass, Is.EqualTo(0x03));
        Assert.That(h.Version, Is.EqualTo(6));
        Assert.That(Ipv6Header.TryCreate(bytes.AsSpan(0, 50), out _, out var r), Is.False);
        Assert.That(r, Is.EqualTo(DropReason.BadTotalLength));
    }

    [Test]
    public void Ethernet_And_Arp_RoundTrip_And_PacketDotNetAgrees()
    {
        var frame = new byte[EthernetHeader.Length + ArpPacket.Length];
        var us = MacAddress.Parse("02:00:00:00:00:01");
        var them = MacAddress.Parse("02:00:00:00:00:02");
        var eth = EthernetHeader.Write(frame, them, us, EtherType.Arp);
        ArpPacket.Write(eth.Payload, ArpPacket.OperationReply, us, Ipv4Address.Parse("10.244.1.0"), them, Ipv4Address.Parse("10.244.2.0"));
        Assert.That(ArpPacket.TryCreate(eth.Payload, out var arp, out _), Is.True);
        Assert.That(arp.Operation, Is.EqualTo(ArpPacket.OperationReply));
        Assert.That(arp.SenderHardwareAddress, Is.EqualTo(us));
        Assert.That(arp.TargetProtocolAddress.ToString(), Is.EqualTo("10.244.2.0"));

        var pdn = (EthernetPacket)Packet.ParsePacket(LinkLayers.Ethernet, frame);
        Assert.That(pdn.Type, Is.EqualTo(EthernetType.Arp));
        Assert.That(pdn.SourceHardwareAddress.ToString(), Is.EqualTo("020000000001"));
        var parp = pdn.Extract<PacketDotNet.ArpPacket>();
        Assert.That(parp, Is.Not.Null);
        Assert.That(parp!.Operation, Is.EqualTo(ArpOperation.Response));
        Assert.That(parp.SenderProtocolAddress, Is.EqualTo(IPAddress.Parse("10.244.1.0")));
        Assert.That(parp.TargetProtocolAddress, Is.EqualTo(IPAddress.Parse("10.244.2.0")));
    }

    [Test]
    public void Vxlan_Header_KnownAnswer()
    {
        // reference/flannel.md §2.6: for VNI 1 the 8 bytes are 08 00 00 00 00 00 01 00.
        var h = new byte[8];
        VxlanHeader.Write(h, 1);
        Assert.That(Convert.ToHexString(h), Is.EqualTo("0800000000000100"));
        VxlanHeader.Write(h, 0xABCDEF);
        Assert.That(Convert.ToHexString(h), Is.EqualTo("08000000ABCDEF00"));
        Assert.That(VxlanHeader.TryCreate(h, out var v, out _), Is.True);
        Assert.That(v.Vni, Is.EqualTo(0xABCDEFu));
    }

    [Test]
    public void Vxlan_Header_EveryFlagAndReservedBit_IsRejected()
    {
        for (int bit = 0; bit < 64; bit++)
        {
            var h = new byte[8];
            VxlanHeader.Write(h, 1);
            int byteIndex = bit / 8;
            if (byteIndex is 4 or 5 or 6)
                continue; // VNI bits
            h[byteIndex] ^= (byte)(1 << (bit % 8));
            Assert.That(VxlanHeader.TryCreate(h, out _, out var r), Is.False, $"bit {bit}");
            Assert.That(r, Is.EqualTo(DropReason.VxlanInvalidHeader));
        }
    }

    [TestCase(0x00, 0x00)]
    [TestCase(0x01, 0x01)]
    [TestCase(0x02, 0x02)]
    [TestCase(0x03, 0x02)]
    [TestCase(0xB8, 0x00)]
    [TestCase(0xBB, 0x02)]
    public void Ecn_EncapsulateTos_AsKernel(int inner, int outer) =>
        Assert.That(Ecn.EncapsulateTos((byte)inner), Is.EqualTo(outer));
}

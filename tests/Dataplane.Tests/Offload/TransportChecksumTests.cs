using System.Buffers.Binary;
using CsCheck;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;
using PacketDotNet;
using PacketDotNet.Utils;

namespace Dataplane.Tests.Offload;

public class TransportChecksumTests
{
    // SuperPackets builds exactly what a CHECKSUM_PARTIAL sender leaves: the field = the folded pseudo-header sum.
    private static byte[] PartialTcp(bool ipv6, int payload = 1000) => SuperPackets.Tcp(ipv6, SuperPackets.Payload(payload));
    private static byte[] PartialUdp(bool ipv6, int payload = 1000) => SuperPackets.Udp(ipv6, SuperPackets.Payload(payload));

    private static byte[] Finished(byte[] partial)
    {
        var p = partial.ToArray();
        bool tcp = p[p[0] >> 4 == 6 ? 6 : 9] == IpProtocol.Tcp;
        ushort check = SuperPackets.ReferenceL4Checksum(p);
        if (!tcp && check == 0)
            check = 0xFFFF;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(SuperPackets.L4Offset(p) + (tcp ? 16 : 6)), check);
        return p;
    }

    [TestCase(false, true)]
    [TestCase(true, true)]
    [TestCase(false, false)]
    [TestCase(true, false)]
    public void Valid_Partial_Invalid(bool ipv6, bool tcp)
    {
        var partial = tcp ? PartialTcp(ipv6) : PartialUdp(ipv6);
        var valid = Finished(partial);
        var corrupt = valid.ToArray();
        corrupt[^7] ^= 0x20;
        Assert.Multiple(() =>
        {
            Assert.That(TransportChecksum.Classify(valid), Is.EqualTo(TransportChecksumStatus.Valid));
            Assert.That(TransportChecksum.Classify(partial), Is.EqualTo(TransportChecksumStatus.Partial));
            Assert.That(TransportChecksum.Classify(corrupt), Is.EqualTo(TransportChecksumStatus.Invalid));
        });

        var completed = partial.ToArray();
        Assert.That(TransportChecksum.Complete(completed), Is.EqualTo(DropReason.None));
        Assert.That(completed, Is.EqualTo(valid), "completing the partial one gives the finished packet");
        var again = valid.ToArray();
        TransportChecksum.Complete(again);
        Assert.That(again, Is.EqualTo(valid), "completing a valid one changes nothing");

        var parsed = Packet.ParsePacket(LinkLayers.Raw, completed);
        Assert.That(tcp ? parsed.Extract<TcpPacket>().ValidTcpChecksum : parsed.Extract<UdpPacket>().ValidUdpChecksum, Is.True, "PacketDotNet agrees");
    }

    [Test]
    public void Property_CompleteOfPartial_IsValid_AndCorruptionIsNeverValid()
    {
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Int[0, 3000], Gen.Int[0, 1 << 20]).Sample((ipv6, tcp, payload, flip) =>
        {
            var partial = tcp ? PartialTcp(ipv6, payload) : PartialUdp(ipv6, payload);
            if (TransportChecksum.Classify(partial) is not (TransportChecksumStatus.Partial or TransportChecksumStatus.Valid))
                return false;
            var p = partial.ToArray();
            TransportChecksum.Complete(p);
            if (TransportChecksum.Classify(p) != TransportChecksumStatus.Valid)
                return false;
            // One flipped bit in the L4 bytes past the checksum field: never valid (a single-bit error always shows).
            int l4 = SuperPackets.L4Offset(p) + (tcp ? 18 : 8);
            if (l4 >= p.Length)
                return true;
            int bit = flip % ((p.Length - l4) * 8);
            p[l4 + bit / 8] ^= (byte)(1 << (bit % 8));
            return TransportChecksum.Classify(p) != TransportChecksumStatus.Valid;
        }, iter: 300);
    }

    [Test]
    public void AValidPacketWhoseFieldLooksPartial_IsValid()
    {
        // The 1-in-65,536 case the other way round: a finished checksum that happens to equal the pseudo-header fold.
        // Keep the field at the fold and adjust one payload word until the whole sums to 0xFFFF.
        var p = PartialTcp(false);
        ulong pseudo = Checksum.PseudoHeaderSum(p.AsSpan(12, 8), IpProtocol.Tcp, (uint)(p.Length - 20));
        uint s = Checksum.Fold(Checksum.Sum(p.AsSpan(20), pseudo));
        uint w = BinaryPrimitives.ReadUInt16BigEndian(p.AsSpan(52)) + (0xFFFF - s);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(52), (ushort)((w & 0xFFFF) + (w >> 16)));

        Assert.That(TransportChecksum.Classify(p), Is.EqualTo(TransportChecksumStatus.Valid));
        Assert.That(TransportChecksum.PrepareTunWrite(p, 1500, out var hdr), Is.EqualTo(DropReason.None));
        Assert.That(hdr.Flags, Is.Zero, "valid wins: no NEEDS_CSUM");
        Assert.That(new IPv4Packet(new ByteArraySegment(p)).Extract<TcpPacket>().ValidTcpChecksum, Is.True);
    }

    [Test]
    public void Udp4ZeroChecksum_IsValid_Udp6ZeroIsNot()
    {
        var v4 = PartialUdp(false);
        v4[26] = v4[27] = 0;
        var v6 = PartialUdp(true);
        v6[46] = v6[47] = 0;
        Assert.That(TransportChecksum.Classify(v4), Is.EqualTo(TransportChecksumStatus.Valid));
        Assert.That(TransportChecksum.Classify(v6), Is.EqualTo(TransportChecksumStatus.Invalid));
    }

    [Test]
    public void NotChecked_NeverThrows()
    {
        var icmp = PacketFactory.Ping();
        Assert.That(TransportChecksum.Classify(icmp), Is.EqualTo(TransportChecksumStatus.Unchecked));
        var padded = PartialTcp(false).Concat(new byte[4]).ToArray();
        Assert.That(TransportChecksum.Classify(padded), Is.EqualTo(TransportChecksumStatus.Unchecked), "bytes beyond the IP length");
        Assert.That(TransportChecksum.Complete(padded), Is.EqualTo(DropReason.UnsupportedOffload));
        Gen.Byte.Array[0, 120].Sample(bytes =>
        {
            TransportChecksum.Classify(bytes);
            TransportChecksum.Complete(bytes);
            TransportChecksum.PrepareTunWrite(bytes, 100, out _);
        }, iter: 2000);
    }

    // ---- what to tell the TUN ----

    [Test]
    public void PrepareTunWrite_SinglePackets()
    {
        var partial = PartialTcp(false);
        Assert.That(TransportChecksum.PrepareTunWrite(partial.ToArray(), 1450, out var hdr), Is.EqualTo(DropReason.None));
        Assert.That((hdr.Flags, hdr.GsoType, hdr.CsumStart, hdr.CsumOffset, hdr.HdrLen),
            Is.EqualTo((VirtioNetHeader.NeedsCsum, GsoType.None, (ushort)20, (ushort)16, (ushort)52)), "partial: the kernel finishes it");
        // And the kernel's finishing (GsoSegmenter.CompleteChecksum does it the same way) gives the valid packet.
        var kernel = partial.ToArray();
        GsoSegmenter.CompleteChecksum(kernel, hdr);
        Assert.That(kernel, Is.EqualTo(Finished(partial)));

        var udp = PartialUdp(true);
        TransportChecksum.PrepareTunWrite(udp, 1450, out hdr);
        Assert.That((hdr.Flags, hdr.CsumStart, hdr.CsumOffset), Is.EqualTo((VirtioNetHeader.NeedsCsum, (ushort)40, (ushort)6)));

        var valid = Finished(partial);
        Assert.That(TransportChecksum.PrepareTunWrite(valid, 1450, out hdr), Is.EqualTo(DropReason.None));
        Assert.That(hdr.Flags, Is.Zero, "valid: a plain write");
        var corrupt = valid.ToArray();
        corrupt[^1] ^= 1;
        Assert.That(TransportChecksum.PrepareTunWrite(corrupt, 1450, out hdr), Is.EqualTo(DropReason.None));
        Assert.That(hdr.Flags, Is.Zero, "corrupt and small: the kernel drops and counts it");
    }

    [TestCase(false, true)]
    [TestCase(false, false)]
    [TestCase(true, true)]
    [TestCase(true, false)]
    public void PrepareTunWrite_InnerSuperPacket_IsAGsoWrite_ThatSplitsIntoMtuSizedValidSegments(bool ipv6, bool partialSum)
    {
        const int Mtu = 1450;
        int payload = 5 * 1398; // 6,990 B of TCP payload, as the capture shows
        var packet = SuperPackets.Tcp(ipv6, SuperPackets.Payload(payload), flags: 0x10 | 0x08 | 0x80);
        if (!partialSum)
            packet = Finished(packet);
        Assert.That(TransportChecksum.PrepareTunWrite(packet, Mtu, out var hdr), Is.EqualTo(DropReason.None));
        int ip = ipv6 ? 40 : 20;
        Assert.Multiple(() =>
        {
            Assert.That(hdr.GsoType, Is.EqualTo(ipv6 ? GsoType.TcpV6 : GsoType.TcpV4));
            Assert.That(hdr.Flags, Is.EqualTo(VirtioNetHeader.NeedsCsum));
            Assert.That(hdr.GsoSize, Is.EqualTo(Mtu - ip - 32));
            Assert.That(hdr.HdrLen, Is.EqualTo(ip + 32));
            Assert.That(hdr.CsumStart, Is.EqualTo(ip));
            Assert.That(hdr.CsumOffset, Is.EqualTo(16));
            Assert.That(hdr.Ecn, Is.True, "CWR set: GSO_ECN");
        });
        Assert.That(TransportChecksum.Classify(packet), Is.EqualTo(TransportChecksumStatus.Partial), "the field now holds the partial sum");

        var dest = Enumerable.Range(0, 16).Select(_ => new PacketBuffer(2048)).ToArray();
        int n = GsoSegmenter.Split(packet, hdr, dest, out var reason);
        Assert.That(reason, Is.EqualTo(DropReason.None));
        Assert.That(n, Is.EqualTo((payload + hdr.GsoSize - 1) / hdr.GsoSize));
        foreach (var segment in dest.Take(n))
        {
            Assert.That(segment.Length, Is.LessThanOrEqualTo(Mtu));
            Assert.That(TransportChecksum.Classify(segment.Data), Is.EqualTo(TransportChecksumStatus.Valid));
        }
    }

    [Test]
    public void PrepareTunWrite_OversizedThatCannotBeAGsoWrite_IsADrop()
    {
        var valid = Finished(PartialTcp(false, 3000));
        var corrupt = valid.ToArray();
        corrupt[^1] ^= 1;
        Assert.That(TransportChecksum.PrepareTunWrite(corrupt, 1450, out _), Is.EqualTo(DropReason.BadChecksum));
        var badIp = valid.ToArray();
        badIp[8] ^= 1;
        Assert.That(TransportChecksum.PrepareTunWrite(badIp, 1450, out _), Is.EqualTo(DropReason.BadChecksum));
        Assert.That(TransportChecksum.PrepareTunWrite(PartialUdp(false, 3000), 1450, out _), Is.EqualTo(DropReason.TooBig));
        Assert.That(TransportChecksum.PrepareTunWrite(valid, 40, out _), Is.EqualTo(DropReason.TooBig), "no room for a segment");
    }
}

using Dataplane.Testing;
using System.Buffers.Binary;
using CsCheck;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using PacketDotNet;
using PacketDotNet.Utils;

namespace Dataplane.Tests.Offload;

public class GsoSegmenterTests
{
    private const int Mss = 1448;
    private const byte Fin = 0x01, Psh = 0x08, Ack = 0x10, Cwr = 0x80;

    private static PacketBuffer[] Buffers(int count) =>
        Enumerable.Range(0, count).Select(_ => new PacketBuffer(2048)).ToArray();

    private static byte[][] SplitOk(byte[] packet, VirtioNetHeader hdr, int buffers = 64)
    {
        var dest = Buffers(buffers);
        int n = GsoSegmenter.Split(packet, hdr, dest, out var reason);
        Assert.That(reason, Is.EqualTo(DropReason.None));
        return dest.Take(n).Select(b => b.Data.ToArray()).ToArray();
    }

    private static int Segments(int payload, int mss) => (payload + mss - 1) / mss;

    // ---- TCP over IPv4 / IPv6, checked by PacketDotNet ----

    [TestCase(Mss, 65535 - 20 - 32)]
    [TestCase(1410, 20000)]
    [TestCase(536, 5000)]
    public void TcpV4_Segments_DecodeWithValidChecksums_AndFollowKernelRules(int mss, int payloadLength)
    {
        var payload = SuperPackets.Payload(payloadLength);
        var packet = SuperPackets.Tcp(false, payload, flags: Ack | Psh | Fin | Cwr, id: 0x4242);
        var segments = SplitOk(packet, SuperPackets.Header(packet, (ushort)mss));

        Assert.That(segments, Has.Length.EqualTo(Segments(payloadLength, mss)));
        for (int i = 0; i < segments.Length; i++)
        {
            var ip = new IPv4Packet(new ByteArraySegment(segments[i]));
            var tcp = ip.Extract<TcpPacket>();
            bool last = i == segments.Length - 1;
            Assert.Multiple(() =>
            {
                Assert.That(ip.ValidIPChecksum, Is.True, $"segment {i} IPv4 checksum");
                Assert.That(tcp.ValidTcpChecksum, Is.True, $"segment {i} TCP checksum");
                Assert.That(ip.TotalLength, Is.EqualTo(segments[i].Length));
                Assert.That(ip.Id, Is.EqualTo(0x4242 + i), "id = original + index (inet_gso_segment)");
                Assert.That(ip.TimeToLive, Is.EqualTo(64));
                Assert.That(tcp.SequenceNumber, Is.EqualTo(SuperPackets.Seq + (uint)(i * mss)));
                Assert.That(tcp.AcknowledgmentNumber, Is.EqualTo(0xA0A0_0001));
                Assert.That(tcp.Acknowledgment, Is.True);
                Assert.That(tcp.Finished, Is.EqualTo(last), "FIN only on the last");
                Assert.That(tcp.Push, Is.EqualTo(last), "PSH only on the last");
                Assert.That(tcp.CongestionWindowReduced, Is.EqualTo(i == 0), "CWR only on the first");
                Assert.That(tcp.PayloadData, Has.Length.EqualTo(last ? payloadLength - i * mss : mss));
                Assert.That(tcp.Options, Is.EqualTo(packet.AsSpan(40, 12).ToArray()), "options copied");
            });
        }
    }

    [TestCase(1428, 30000)]
    [TestCase(1, 5)]
    public void TcpV6_Segments_DecodeWithValidChecksums(int mss, int payloadLength)
    {
        var payload = SuperPackets.Payload(payloadLength);
        var packet = SuperPackets.Tcp(true, payload, flags: Ack | Psh);
        var segments = SplitOk(packet, SuperPackets.Header(packet, (ushort)mss), 128);

        Assert.That(segments, Has.Length.EqualTo(Segments(payloadLength, mss)));
        for (int i = 0; i < segments.Length; i++)
        {
            var ip = new IPv6Packet(new ByteArraySegment(segments[i]));
            var tcp = ip.Extract<TcpPacket>();
            Assert.Multiple(() =>
            {
                Assert.That(tcp.ValidTcpChecksum, Is.True, $"segment {i} TCP checksum");
                Assert.That(ip.PayloadLength, Is.EqualTo(segments[i].Length - 40));
                Assert.That(ip.FlowLabel, Is.EqualTo(0x54321));
                Assert.That(tcp.SequenceNumber, Is.EqualTo(SuperPackets.Seq + (uint)(i * mss)));
                Assert.That(tcp.Push, Is.EqualTo(i == segments.Length - 1));
            });
        }
    }

    [TestCase(false, 1400, 20000)]
    [TestCase(true, 1380, 9000)]
    [TestCase(false, 1000, 1000)]
    public void UdpL4_Segments_DecodeWithValidChecksums(bool ipv6, int size, int payloadLength)
    {
        var payload = SuperPackets.Payload(payloadLength);
        var packet = SuperPackets.Udp(ipv6, payload, id: 0xFFFE);
        var segments = SplitOk(packet, SuperPackets.Header(packet, (ushort)size));

        Assert.That(segments, Has.Length.EqualTo(Segments(payloadLength, size)));
        for (int i = 0; i < segments.Length; i++)
        {
            var ip = ipv6 ? (IPPacket)new IPv6Packet(new ByteArraySegment(segments[i])) : new IPv4Packet(new ByteArraySegment(segments[i]));
            var udp = ip.Extract<UdpPacket>();
            int expected = i == segments.Length - 1 ? payloadLength - i * size : size;
            Assert.Multiple(() =>
            {
                Assert.That(udp.ValidUdpChecksum, Is.True, $"segment {i} UDP checksum");
                Assert.That(udp.Checksum, Is.Not.Zero);
                Assert.That(udp.Length, Is.EqualTo(8 + expected));
                Assert.That(udp.DestinationPort, Is.EqualTo(4789));
                if (ip is IPv4Packet v4)
                {
                    Assert.That(v4.ValidIPChecksum, Is.True);
                    Assert.That(v4.Id, Is.EqualTo((ushort)(0xFFFE + i)), "id wraps mod 2^16");
                }
            });
        }
    }

    [Test]
    public void Ipv4Options_AreCopiedIntoEverySegment()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(3000), ipv4Options: 8);
        var segments = SplitOk(packet, SuperPackets.Header(packet, 1000));
        Assert.That(segments, Has.Length.EqualTo(3));
        foreach (var s in segments)
        {
            var ip = new IPv4Packet(new ByteArraySegment(s));
            Assert.That(ip.HeaderLength, Is.EqualTo(7), "IHL in words");
            Assert.That(ip.ValidIPChecksum, Is.True);
            Assert.That(ip.Extract<TcpPacket>().ValidTcpChecksum, Is.True);
        }
    }

    [Test]
    public void Sequence_WrapsModulo2To32()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(3000), seq: 0xFFFF_FF00);
        var segments = SplitOk(packet, SuperPackets.Header(packet, 1000));
        Assert.That(segments.Select(s => BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(24))),
            Is.EqualTo(new uint[] { 0xFFFF_FF00, 0x0000_02E8, 0x0000_06D0 }));
    }

    // ---- sizes around the MSS ----

    [TestCase(1, 1)]
    [TestCase(Mss - 1, 1)]
    [TestCase(Mss, 1)]
    [TestCase(Mss + 1, 2)]
    [TestCase(2 * Mss, 2)]
    [TestCase(65535 - 20 - 32, 46)]
    public void OddSizes_SplitIntoTheRightSegments(int payloadLength, int expectedSegments)
    {
        var payload = SuperPackets.Payload(payloadLength);
        var packet = SuperPackets.Tcp(false, payload, flags: Ack | Psh | Fin | Cwr);
        var hdr = SuperPackets.Header(packet, Mss);
        Assert.That(GsoSegmenter.TryPlan(packet, hdr, out var plan), Is.EqualTo(DropReason.None));
        Assert.That(plan.SegmentCount, Is.EqualTo(expectedSegments));
        Assert.That(plan.PayloadLengthOf(expectedSegments - 1), Is.EqualTo(payloadLength - (expectedSegments - 1) * Mss));

        var segments = SplitOk(packet, hdr);
        Assert.That(segments.SelectMany(s => s.Skip(52)), Is.EqualTo(payload));
        var only = new IPv4Packet(new ByteArraySegment(segments[^1])).Extract<TcpPacket>();
        Assert.That(only.ValidTcpChecksum, Is.True);
        if (expectedSegments == 1)
            Assert.That(only.CongestionWindowReduced && only.Finished && only.Push, Is.True, "a single segment is first and last");
    }

    [Test]
    public void Full64KiB_AtMss1448_Is45Segments()
    {
        // 64 KiB of TCP payload does not fit an IPv4 packet; 45 full segments is what a 65160-byte TSO packet
        // (tcp_tso_autosize at 45 × 1448) carries.
        var payload = SuperPackets.Payload(45 * Mss);
        var packet = SuperPackets.Tcp(false, payload);
        var segments = SplitOk(packet, SuperPackets.Header(packet, Mss));
        Assert.That(segments, Has.Length.EqualTo(45));
        Assert.That(segments.All(s => s.Length == 52 + Mss), Is.True);
    }

    // ---- property: split then concatenate gives back the payload, and every segment is valid ----

    [Test]
    public void ConcatenatedSegmentPayloads_EqualTheOriginal_AnySizeAndKind()
    {
        Gen.Int[1, 65000].Select(Gen.Int[8, 9000], Gen.Int[0, 3], Gen.Int[0, 10]).Sample((payloadLength, mss, kind, options) =>
        {
            bool ipv6 = kind >= 2, tcp = kind % 2 == 0;
            int ipLength = ipv6 ? 40 : 20;
            int l4Length = tcp ? 20 + options * 4 : 8;
            payloadLength = Math.Min(payloadLength, 65535 - l4Length - (ipv6 ? 0 : ipLength));
            var payload = SuperPackets.Payload(payloadLength, seed: mss);
            var packet = tcp ? SuperPackets.Tcp(ipv6, payload, tcpOptions: options * 4) : SuperPackets.Udp(ipv6, payload);
            var hdr = SuperPackets.Header(packet, (ushort)mss);
            if (GsoSegmenter.TryPlan(packet, hdr, out var plan) != DropReason.None)
                return false;

            var joined = new List<byte>(payloadLength);
            var headers = new byte[GsoSegmenter.MaxHeaderLength];
            for (int i = 0; i < plan.SegmentCount; i++)
            {
                int written = GsoSegmenter.WriteSegmentHeaders(packet, plan, i, headers);
                var segment = headers.AsSpan(0, written).ToArray()
                    .Concat(packet.AsSpan(plan.PayloadOffsetOf(i), plan.PayloadLengthOf(i)).ToArray()).ToArray();
                var stored = BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(ipLength + (tcp ? 16 : 6)));
                if (stored != SuperPackets.ReferenceL4Checksum(segment) && !(stored == 0xFFFF && !tcp && SuperPackets.ReferenceL4Checksum(segment) == 0))
                    return false;
                if (i < plan.SegmentCount - 1 && plan.PayloadLengthOf(i) != mss)
                    return false;
                joined.AddRange(segment.Skip(written));
            }
            return joined.SequenceEqual(payload);
        }, iter: 200);
    }

    // ---- hdr_len is ignored ----

    [TestCase((ushort)0)]
    [TestCase((ushort)1)]
    [TestCase((ushort)52)]
    [TestCase((ushort)65535)]
    public void HdrLen_Lies_AreIgnored(ushort hdrLen)
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(5000));
        var honest = SuperPackets.Header(packet, 1000);
        var lying = new VirtioNetHeader(honest.Flags, honest.GsoType, hdrLen, honest.GsoSize, honest.CsumStart, honest.CsumOffset);
        Assert.That(SplitOk(packet, lying), Is.EqualTo(SplitOk(packet, honest)));
    }

    // ---- NEEDS_CSUM completion on a non-GSO packet ----

    [Test]
    public void CompleteChecksum_EqualsFromScratch_AnyPacket()
    {
        Gen.Int[0, 3000].Select(Gen.Int[0, 3]).Sample((payloadLength, kind) =>
        {
            bool ipv6 = kind >= 2, tcp = kind % 2 == 0;
            var payload = SuperPackets.Payload(payloadLength, seed: payloadLength);
            var packet = tcp ? SuperPackets.Tcp(ipv6, payload) : SuperPackets.Udp(ipv6, payload);
            var hdr = SuperPackets.Header(packet, 0);
            if (GsoSegmenter.CompleteChecksum(packet, hdr) != DropReason.None)
                return false;
            ushort stored = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(hdr.CsumStart + hdr.CsumOffset));
            ushort reference = SuperPackets.ReferenceL4Checksum(packet);
            return stored == (reference == 0 ? 0xFFFF : reference);
        }, iter: 500);
    }

    [Test]
    public void CompleteChecksum_ValidatedByPacketDotNet()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(777));
        Assert.That(GsoSegmenter.CompleteChecksum(packet, SuperPackets.Header(packet, 0)), Is.EqualTo(DropReason.None));
        Assert.That(new IPv4Packet(new ByteArraySegment(packet)).Extract<TcpPacket>().ValidTcpChecksum, Is.True);
    }

    [Test]
    public void CompleteChecksum_ZeroResult_IsSentAs0xFFFF()
    {
        // Choose the last two payload bytes so the checksum comes out 0 (sum 0xFFFF), as skb_checksum_help would
        // then write CSUM_MANGLED_0.
        var packet = SuperPackets.Udp(false, new byte[10]);
        var hdr = SuperPackets.Header(packet, 0);
        ushort without = SuperPackets.ReferenceL4Checksum(packet); // = ~sum with the last word 0
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(packet.Length - 2), without);
        Assert.That(SuperPackets.ReferenceL4Checksum(packet), Is.Zero);
        Assert.That(GsoSegmenter.CompleteChecksum(packet, hdr), Is.EqualTo(DropReason.None));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(26)), Is.EqualTo(0xFFFF));
    }

    [Test]
    public void UdpSegment_ZeroChecksum_IsSentAs0xFFFF()
    {
        // One USO segment equal to the whole packet, its last word chosen so the checksum computes to 0: UDP must
        // send 0xFFFF instead (RFC 768; __udp_gso_segment's CSUM_MANGLED_0), 0 meaning "no checksum".
        var packet = SuperPackets.Udp(false, new byte[10]);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(packet.Length - 2), SuperPackets.ReferenceL4Checksum(packet));
        Assert.That(SuperPackets.ReferenceL4Checksum(packet), Is.Zero);
        var segments = SplitOk(packet, SuperPackets.Header(packet, 100));
        Assert.That(segments, Has.Length.EqualTo(1));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(segments[0].AsSpan(26)), Is.EqualTo(0xFFFF));
    }

    [Test]
    public void CompleteChecksum_WithoutNeedsCsum_LeavesThePacketAlone()
    {
        var packet = SuperPackets.Udp(false, SuperPackets.Payload(50));
        var before = packet.ToArray();
        var hdr = new VirtioNetHeader(VirtioNetHeader.DataValid, GsoType.None, 0, 0, 0, 0);
        Assert.That(GsoSegmenter.CompleteChecksum(packet, hdr), Is.EqualTo(DropReason.None));
        Assert.That(packet, Is.EqualTo(before));
    }

    [TestCase(28, 6, DropReason.None)]
    [TestCase(77, 0, DropReason.BadOffloadHeader)]
    [TestCase(78, 0, DropReason.BadOffloadHeader)]
    [TestCase(20, 57, DropReason.BadOffloadHeader)]
    [TestCase(20, 56, DropReason.None)]
    [TestCase(65535, 65535, DropReason.BadOffloadHeader)]
    public void CompleteChecksum_Bounds(int start, int offset, DropReason expected)
    {
        var packet = SuperPackets.Udp(false, SuperPackets.Payload(50)); // 78 bytes
        var hdr = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.None, 0, 0, (ushort)start, (ushort)offset);
        Assert.That(GsoSegmenter.CompleteChecksum(packet, hdr), Is.EqualTo(expected));
    }

    [Test]
    public void Split_NonGso_CompletesTheChecksum()
    {
        var packet = SuperPackets.Udp(true, SuperPackets.Payload(99));
        var segments = SplitOk(packet, SuperPackets.Header(packet, 0), 1);
        Assert.That(segments, Has.Length.EqualTo(1));
        Assert.That(new IPv6Packet(new ByteArraySegment(segments[0])).Extract<UdpPacket>().ValidUdpChecksum, Is.True);
    }

    [Test]
    public void Split_TooFewOrTooSmallBuffers_IsADropNotAnException()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(5000));
        var hdr = SuperPackets.Header(packet, 1000);
        Assert.That(GsoSegmenter.Split(packet, hdr, Buffers(4), out var reason), Is.Zero);
        Assert.That(reason, Is.EqualTo(DropReason.TooManySegments));

        var small = Enumerable.Range(0, 5).Select(_ => new PacketBuffer(1000)).ToArray();
        Assert.That(GsoSegmenter.Split(packet, hdr, small, out reason), Is.Zero);
        Assert.That(reason, Is.EqualTo(DropReason.TooBig));
    }

    [Test]
    public void WriteSegmentHeaders_CallerBugs_Throw()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(5000));
        Assert.That(GsoSegmenter.TryPlan(packet, SuperPackets.Header(packet, 1000), out var plan), Is.EqualTo(DropReason.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => GsoSegmenter.WriteSegmentHeaders(packet, plan, 5, new byte[200]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GsoSegmenter.WriteSegmentHeaders(packet, plan, 0, new byte[51]));
    }

    // ---- allocation ----

    [Test]
    public void PlanAndWriteHeaders_DoNotAllocate()
    {
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(45 * Mss));
        var hdr = SuperPackets.Header(packet, Mss);
        var headers = new byte[GsoSegmenter.MaxHeaderLength];
        var complete = SuperPackets.Udp(false, SuperPackets.Payload(100));
        var completeHdr = SuperPackets.Header(complete, 0);
        int total = 0;
        Allocations.AssertSteadyStateAllocatesNothing(() => total = Loop());
        Assert.That(total, Is.EqualTo(1000 * 45 * 52));

        int Loop()
        {
            int sum = 0;
            for (int n = 0; n < 1000; n++)
            {
                if (GsoSegmenter.TryPlan(packet, hdr, out var plan) != DropReason.None)
                    return -1;
                for (int i = 0; i < plan.SegmentCount; i++)
                    sum += GsoSegmenter.WriteSegmentHeaders(packet, plan, i, headers);
                GsoSegmenter.CompleteChecksum(complete, completeHdr);
            }
            return sum;
        }
    }
}

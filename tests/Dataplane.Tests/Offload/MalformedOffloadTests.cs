using System.Buffers.Binary;
using CsCheck;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;

namespace Dataplane.Tests.Offload;

/// <summary>Every field of the header and the packet lying: a drop reason, never an exception.</summary>
public class MalformedOffloadTests
{
    private static readonly byte[] Tcp4 = SuperPackets.Tcp(false, SuperPackets.Payload(4000));
    private static readonly byte[] Tcp6 = SuperPackets.Tcp(true, SuperPackets.Payload(4000));
    private static readonly byte[] Udp4 = SuperPackets.Udp(false, SuperPackets.Payload(4000));

    private static VirtioNetHeader With(VirtioNetHeader h, byte? flags = null, GsoType? type = null, ushort? size = null,
        ushort? start = null, ushort? offset = null, bool? ecn = null) =>
        new(flags ?? h.Flags, type ?? h.GsoType, h.HdrLen, size ?? h.GsoSize, start ?? h.CsumStart, offset ?? h.CsumOffset, ecn ?? h.Ecn);

    private static DropReason Plan(byte[] packet, VirtioNetHeader hdr) => GsoSegmenter.TryPlan(packet, hdr, out _);

    [Test]
    public void HeaderFields_Lying()
    {
        var h4 = SuperPackets.Header(Tcp4, 1000);
        var h6 = SuperPackets.Header(Tcp6, 1000);
        var hu = SuperPackets.Header(Udp4, 1000);
        Assert.Multiple(() =>
        {
            Assert.That(Plan(Tcp4, h4), Is.EqualTo(DropReason.None));
            Assert.That(Plan(Tcp4, With(h4, size: 0)), Is.EqualTo(DropReason.BadOffloadHeader), "gso_size 0");
            Assert.That(Plan(Tcp4, With(h4, flags: 0)), Is.EqualTo(DropReason.BadOffloadHeader), "GSO without NEEDS_CSUM");
            Assert.That(Plan(Tcp4, With(h4, start: 19)), Is.EqualTo(DropReason.BadOffloadHeader), "csum_start before L4");
            Assert.That(Plan(Tcp4, With(h4, start: 21)), Is.EqualTo(DropReason.BadOffloadHeader), "csum_start after L4");
            Assert.That(Plan(Tcp4, With(h4, start: 65535)), Is.EqualTo(DropReason.BadOffloadHeader), "csum_start far out");
            Assert.That(Plan(Tcp4, With(h4, offset: 6)), Is.EqualTo(DropReason.BadOffloadHeader), "UDP csum_offset on TCP");
            Assert.That(Plan(Tcp4, With(h4, offset: 65535)), Is.EqualTo(DropReason.BadOffloadHeader), "csum_offset far out");
            Assert.That(Plan(Udp4, With(hu, offset: 16)), Is.EqualTo(DropReason.BadOffloadHeader), "TCP csum_offset on UDP");
            Assert.That(Plan(Tcp4, With(h4, type: GsoType.TcpV6)), Is.EqualTo(DropReason.BadOffloadHeader), "TCPV6 on IPv4");
            Assert.That(Plan(Tcp6, With(h6, type: GsoType.TcpV4)), Is.EqualTo(DropReason.BadOffloadHeader), "TCPV4 on IPv6");
            Assert.That(Plan(Tcp4, With(h4, type: GsoType.UdpL4, offset: 6)), Is.EqualTo(DropReason.BadOffloadHeader), "UDP_L4 on TCP");
            Assert.That(Plan(Udp4, With(hu, type: GsoType.TcpV4, offset: 16)), Is.EqualTo(DropReason.BadOffloadHeader), "TCPV4 on UDP");
            Assert.That(Plan(Udp4, With(hu, type: GsoType.Udp)), Is.EqualTo(DropReason.UnsupportedOffload), "legacy UFO");
            Assert.That(Plan(Tcp4, With(h4, type: (GsoType)2)), Is.EqualTo(DropReason.UnsupportedOffload), "unknown type");
            Assert.That(Plan(Tcp4, With(h4, type: (GsoType)0x7F)), Is.EqualTo(DropReason.UnsupportedOffload), "unknown type");
            Assert.That(Plan(Tcp4, With(h4, type: GsoType.None)), Is.EqualTo(DropReason.BadOffloadHeader), "not GSO");
            Assert.That(Plan(Udp4, With(hu, ecn: true)), Is.EqualTo(DropReason.BadOffloadHeader), "ECN on UDP");
            Assert.That(Plan(Tcp4, With(h4, ecn: true)), Is.EqualTo(DropReason.None), "ECN on TCP is fine");
            Assert.That(Plan(Udp4, With(hu, size: 1)), Is.EqualTo(DropReason.None), "4000 segments is within the bound");
        });
    }

    [Test]
    public void TooManySegments()
    {
        var udp = SuperPackets.Udp(false, SuperPackets.Payload(GsoSegmenter.MaxSegments + 1));
        Assert.That(Plan(udp, SuperPackets.Header(udp, 1)), Is.EqualTo(DropReason.TooManySegments));
        var exact = SuperPackets.Udp(false, SuperPackets.Payload(GsoSegmenter.MaxSegments));
        Assert.That(Plan(exact, SuperPackets.Header(exact, 1)), Is.EqualTo(DropReason.None));
    }

    [Test]
    public void PacketFields_Lying()
    {
        var h4 = SuperPackets.Header(Tcp4, 1000);
        var h6 = SuperPackets.Header(Tcp6, 1000);
        Assert.Multiple(() =>
        {
            Assert.That(Plan([], h4), Is.EqualTo(DropReason.Truncated));
            Assert.That(Plan(Tcp4[..19], h4), Is.EqualTo(DropReason.Truncated));
            Assert.That(Plan(Tcp4[..1000], h4), Is.EqualTo(DropReason.BadTotalLength), "truncated below total length");
            Assert.That(Plan(Tcp6[..39], h6), Is.EqualTo(DropReason.Truncated));
            Assert.That(Plan(Tcp6[..1000], h6), Is.EqualTo(DropReason.BadTotalLength));
            Assert.That(Plan(Mutate(Tcp4, p => p[0] = 0x44), h4), Is.EqualTo(DropReason.BadIpHeaderLength), "IHL 4");
            Assert.That(Plan(Mutate(Tcp4, p => p[0] = 0x40), h4), Is.EqualTo(DropReason.BadIpHeaderLength), "IHL 0");
            Assert.That(Plan(Mutate(Tcp4, p => p[0] = 0x46), h4), Is.EqualTo(DropReason.BadOffloadHeader), "IHL 6: csum_start no longer the L4 header");
            Assert.That(Plan(Mutate(Tcp4, p => p[0] = 0x55), h4), Is.EqualTo(DropReason.BadIpVersion));
            Assert.That(Plan(Mutate(Tcp4, p => BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 19)), h4), Is.EqualTo(DropReason.BadTotalLength));
            Assert.That(Plan(Mutate(Tcp4, p => BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 65535)), h4), Is.EqualTo(DropReason.BadTotalLength));
            Assert.That(Plan(Mutate(Tcp4, p => BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 30)), h4), Is.EqualTo(DropReason.Truncated), "TCP header past total length");
            Assert.That(Plan(Mutate(Tcp4, p => BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 52)), h4), Is.EqualTo(DropReason.BadOffloadHeader), "GSO with no payload");
            Assert.That(Plan(Mutate(Tcp4, p => p[6] |= 0x20), h4), Is.EqualTo(DropReason.BadOffloadHeader), "MF");
            Assert.That(Plan(Mutate(Tcp4, p => p[7] = 1), h4), Is.EqualTo(DropReason.BadOffloadHeader), "fragment offset");
            Assert.That(Plan(Mutate(Tcp4, p => p[9] = 17), h4), Is.EqualTo(DropReason.BadOffloadHeader), "protocol UDP under TCPV4");
            Assert.That(Plan(Mutate(Tcp4, p => p[32] = 0x40), h4), Is.EqualTo(DropReason.BadTransportHeader), "TCP data offset 4");
            Assert.That(Plan(Mutate(Tcp4, p => p[32] = 0xF0), h4), Is.EqualTo(DropReason.None), "TCP data offset 15 (reads options out of payload)");
            Assert.That(Plan(Mutate(Tcp6, p => p[6] = 0), h6), Is.EqualTo(DropReason.UnsupportedOffload), "hop-by-hop extension header");
            Assert.That(Plan(Mutate(Tcp6, p => p[6] = 44), h6), Is.EqualTo(DropReason.UnsupportedOffload), "fragment extension header");
            Assert.That(Plan(Mutate(Tcp6, p => BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), 0)), h6), Is.EqualTo(DropReason.BadTotalLength), "jumbogram");
        });
    }

    [Test]
    public void Ipv6ExtensionHeader_WithCsumStartPastIt_IsStillRefused()
    {
        // A real extension header (8-byte destination options) with csum_start honestly pointing after it.
        var inner = SuperPackets.Tcp(true, SuperPackets.Payload(3000));
        var packet = new byte[inner.Length + 8];
        inner.AsSpan(0, 40).CopyTo(packet);
        packet[6] = 60; // destination options
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(inner.Length - 40 + 8));
        packet[40] = 6; // next header TCP, length 0 => 8 bytes
        packet[42] = 1; packet[43] = 4; // PadN
        inner.AsSpan(40).CopyTo(packet.AsSpan(48));
        var hdr = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.TcpV6, 0, 1000, 48, 16);
        Assert.That(Plan(packet, hdr), Is.EqualTo(DropReason.UnsupportedOffload));
    }

    [Test]
    public void CompleteChecksum_OnAGsoHeader_IsRefused()
    {
        Assert.That(GsoSegmenter.CompleteChecksum(Tcp4.ToArray(), SuperPackets.Header(Tcp4, 1000)), Is.EqualTo(DropReason.BadOffloadHeader));
        Assert.That(GsoSegmenter.CompleteChecksum(Tcp4.ToArray(), With(SuperPackets.Header(Tcp4, 0), ecn: true)), Is.EqualTo(DropReason.BadOffloadHeader));
    }

    /// <summary>
    /// Random corruption of the header bytes, the packet bytes and the length: no exception anywhere, and
    /// whatever TryPlan accepts can be written out within MaxHeaderLength and the packet's bounds.
    /// </summary>
    [Test]
    public void RandomMutations_NeverThrow()
    {
        byte[][] seeds =
        [
            Tcp4, Tcp6, Udp4, SuperPackets.Udp(true, SuperPackets.Payload(3000)),
            SuperPackets.Tcp(false, SuperPackets.Payload(100), ipv4Options: 40, tcpOptions: 40),
        ];
        var buffers = Enumerable.Range(0, 16).Select(_ => new PacketBuffer(4096)).ToArray();
        var headers = new byte[GsoSegmenter.MaxHeaderLength];
        int accepted = 0;
        Gen.Int[0, seeds.Length - 1]
            .Select(Gen.Byte.Array[VirtioNetHeader.Length], Gen.Int[0, VirtioNetHeader.Length], Gen.Int[0, 200].Array[0, 6], Gen.Byte.Array[6], Gen.Int[-10, 10])
            .Sample((seed, rawHdr, hdrMode, positions, values, lengthDelta) =>
            {
                var packet = seeds[seed].ToArray();
                var honest = SuperPackets.Header(packet, (ushort)(500 + values[0]));
                Span<byte> hdrBytes = stackalloc byte[VirtioNetHeader.Length];
                honest.Write(hdrBytes);
                // Mostly the honest header with one byte replaced, sometimes all ten bytes random.
                if (hdrMode == VirtioNetHeader.Length)
                    rawHdr.CopyTo(hdrBytes);
                else
                    hdrBytes[hdrMode] = rawHdr[hdrMode];
                for (int i = 0; i < positions.Length; i++)
                    packet[positions[i] % packet.Length] = values[i % values.Length];
                int length = Math.Clamp(packet.Length + lengthDelta * (values[2] % 50), 0, packet.Length);
                var span = packet.AsSpan(0, length);

                VirtioNetHeader.TryRead(hdrBytes, out var hdr);
                if (GsoSegmenter.TryPlan(span, hdr, out var plan) == DropReason.None)
                {
                    accepted++;
                    if (plan.HeaderLength > GsoSegmenter.MaxHeaderLength || plan.PayloadOffset + plan.PayloadLength > length)
                        return false;
                    for (int i = 0; i < plan.SegmentCount; i++)
                        GsoSegmenter.WriteSegmentHeaders(span, plan, i, headers);
                }
                GsoSegmenter.Split(span, hdr, buffers, out _);
                GsoSegmenter.CompleteChecksum(span, hdr);
                return true;
            }, iter: 20000, threads: 1); // shared buffers: one thread
        Assert.That(accepted, Is.GreaterThan(100), "the mutations should not all be rejected");
    }

    private static byte[] Mutate(byte[] packet, Action<byte[]> change)
    {
        var copy = packet.ToArray();
        change(copy);
        return copy;
    }
}

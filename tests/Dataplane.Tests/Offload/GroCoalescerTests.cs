using Dataplane.Testing;
using System.Buffers.Binary;
using CsCheck;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;
using PacketDotNet;
using PacketDotNet.Utils;

namespace Dataplane.Tests.Offload;

public class GroCoalescerTests
{
    private const int Mss = 1448;
    private const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;
    private const int BigBuffer = 65536 + 256;

    // ---- helpers ----

    /// <summary>The segments the kernel's TSO would send for a super-packet: final headers, valid checksums, ids + i.</summary>
    private static byte[][] Segments(bool ipv6, int payloadLength, int mss = Mss, byte flags = Ack | Psh, int seed = 1,
        ushort port = 40000, int tcpOptions = 12)
    {
        var super = SuperPackets.Tcp(ipv6, SuperPackets.Payload(payloadLength, seed), flags, tcpOptions);
        BinaryPrimitives.WriteUInt16BigEndian(super.AsSpan(SuperPackets.L4Offset(super)), port);
        FixL4(super, partial: true);
        var dest = Enumerable.Range(0, (payloadLength + mss - 1) / mss).Select(_ => new PacketBuffer(4096)).ToArray();
        int n = GsoSegmenter.Split(super, SuperPackets.Header(super, (ushort)mss), dest, out var reason);
        Assert.That(reason, Is.EqualTo(DropReason.None));
        return dest.Take(n).Select(b => b.Data.ToArray()).ToArray();
    }

    private static PacketBuffer[] Load(IEnumerable<byte[]> packets, int capacity = BigBuffer) =>
        packets.Select(p =>
        {
            var b = new PacketBuffer(capacity);
            b.Load(p);
            return b;
        }).ToArray();

    /// <summary>Recomputes the IPv4 header checksum and sets the TCP checksum (final, or the partial pseudo-header sum).</summary>
    private static void FixL4(byte[] packet, bool partial = false)
    {
        bool v6 = packet[0] >> 4 == 6;
        int l4 = SuperPackets.L4Offset(packet);
        if (!v6)
            new Ipv4Header(packet).UpdateChecksum();
        ushort value = partial
            ? Checksum.Fold(Checksum.PseudoHeaderSum(v6 ? packet.AsSpan(8, 32) : packet.AsSpan(12, 8), IpProtocol.Tcp, (uint)(packet.Length - l4)))
            : SuperPackets.ReferenceL4Checksum(packet);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(l4 + 16), value);
    }

    private static byte[] Mutated(byte[] packet, Action<byte[]> change, bool fix = true)
    {
        var copy = packet.ToArray();
        change(copy);
        if (fix)
            FixL4(copy);
        return copy;
    }

    private static (int Count, byte[][] Out, PacketBuffer[] Buffers) Run(IEnumerable<byte[]> packets, bool partial = false,
        int capacity = BigBuffer, bool udp = false)
    {
        var buffers = Load(packets, capacity);
        var gro = new GroCoalescer(Math.Max(buffers.Length, 1), partial) { CoalesceUdp = udp };
        int n = gro.Coalesce(buffers);
        return (n, buffers.Take(n).Select(b => b.Data.ToArray()).ToArray(), buffers);
    }

    private static void AssertNotMerged(byte[] first, byte[] second, string because)
    {
        var (n, output, buffers) = Run([first, second]);
        Assert.Multiple(() =>
        {
            Assert.That(n, Is.EqualTo(2), because);
            Assert.That(output[0], Is.EqualTo(first), because + ": first untouched");
            Assert.That(output[1], Is.EqualTo(second), because + ": second untouched");
            Assert.That(buffers[0].Offload.GsoType, Is.EqualTo(GsoType.None));
            Assert.That(buffers[0].Offload.Flags, Is.Zero);
        });
    }

    private static int Tcp(byte[] p) => SuperPackets.L4Offset(p);

    // ---- what merges ----

    [TestCase(false, 44)]
    [TestCase(true, 44)]
    [TestCase(false, 2)]
    [TestCase(true, 7)]
    public void ContiguousSegments_BecomeTheOriginalSuperPacket(bool ipv6, int count)
    {
        int payload = count * Mss - 100; // the last one short
        var segments = Segments(ipv6, payload);
        var expected = SuperPackets.Tcp(ipv6, SuperPackets.Payload(payload));
        var (n, output, buffers) = Run(segments);

        Assert.That(n, Is.EqualTo(1));
        Assert.That(output[0], Is.EqualTo(expected), "bytes: headers as the first segment's, PSH from the last, lengths, partial sum");
        var hdr = buffers[0].Offload;
        int headers = (ipv6 ? 40 : 20) + 32;
        Assert.Multiple(() =>
        {
            Assert.That(hdr.Flags, Is.EqualTo(VirtioNetHeader.NeedsCsum));
            Assert.That(hdr.GsoType, Is.EqualTo(ipv6 ? GsoType.TcpV6 : GsoType.TcpV4));
            Assert.That(hdr.GsoSize, Is.EqualTo(Mss));
            Assert.That(hdr.HdrLen, Is.EqualTo(headers));
            Assert.That(hdr.CsumStart, Is.EqualTo(headers - 32));
            Assert.That(hdr.CsumOffset, Is.EqualTo(16));
            Assert.That(hdr.Ecn, Is.False);
        });
        // The kernel would finish NEEDS_CSUM like this: the completed packet must be valid.
        var completed = output[0].ToArray();
        Assert.That(TransportChecksum.Complete(completed), Is.EqualTo(DropReason.None));
        Assert.That(TransportChecksum.Classify(completed), Is.EqualTo(TransportChecksumStatus.Valid));
        if (!ipv6)
            Assert.That(new IPv4Packet(new ByteArraySegment(completed)).ValidIPChecksum, Is.True);
    }

    [Test]
    public void UpTo64KiB_ThenANewSuperPacket()
    {
        // 45 × 1448 + 52 = 65,212 fits; a 46th segment would make 66,660.
        var first = Segments(false, 45 * Mss, flags: Ack);
        var next = Mutated(first[44], p =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(24), SuperPackets.Seq + 45 * Mss);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), 0x4242 + 45);
        });
        var segments = first.Append(next).ToArray();
        var (n, output, buffers) = Run(segments);
        Assert.That(n, Is.EqualTo(2));
        Assert.That(output[0], Has.Length.EqualTo(52 + 45 * Mss));
        Assert.That(buffers[0].Offload.GsoType, Is.EqualTo(GsoType.TcpV4));
        Assert.That(output[1], Is.EqualTo(segments[45]), "the 46th alone, untouched");
        Assert.That(buffers[1].Offload.GsoType, Is.EqualTo(GsoType.None));
    }

    [Test]
    public void Property_SplitOfCoalesced_GivesBackTheSegments()
    {
        var gen = Gen.Select(Gen.Bool, Gen.Int[536, 1460], Gen.Int[1, 60000], Gen.OneOfConst(Ack, (byte)(Ack | Psh), (byte)(Ack | Psh | Fin), (byte)(Ack | Cwr), (byte)(Ack | Ece)));
        gen.Sample((ipv6, mss, payload, flags) =>
        {
            var segments = Segments(ipv6, payload, mss, flags);
            // Only the head needs room for 64 KiB.
            var buffers = segments.Select((p, i) =>
            {
                var b = new PacketBuffer(i == 0 ? BigBuffer : 2048);
                b.Load(p);
                return b;
            }).ToArray();
            int n = new GroCoalescer(buffers.Length).Coalesce(buffers);
            var output = buffers.Take(n).Select(b => b.Data.ToArray()).ToArray();
            var again = new List<byte[]>();
            for (int i = 0; i < n; i++)
            {
                var dest = Enumerable.Range(0, 128).Select(_ => new PacketBuffer(4096)).ToArray();
                int m = GsoSegmenter.Split(output[i], buffers[i].Offload, dest, out var reason);
                if (reason != DropReason.None)
                    return false;
                again.AddRange(dest.Take(m).Select(b => b.Data.ToArray()));
            }
            return n == 1 && again.Count == segments.Length && again.Zip(segments).All(p => p.First.AsSpan().SequenceEqual(p.Second))
                && buffers[0].Offload.Ecn == (segments.Length > 1 && (flags & Cwr) != 0);
        }, iter: 200);
    }

    [Test]
    public void PshOrFinSegment_EndsTheSuperPacket()
    {
        foreach (byte last in new[] { (byte)(Ack | Psh), (byte)(Ack | Fin), (byte)(Ack | Psh | Fin) })
        {
            var s = Segments(false, 4 * Mss, flags: Ack);
            s[1] = Mutated(s[1], p => p[Tcp(p) + 13] = last);
            var (n, output, _) = Run(s);
            Assert.That(n, Is.EqualTo(2), $"flags {last:x}: [0+1], [2+3]");
            Assert.That(output[0][33], Is.EqualTo(last), "the head carries the last one's PSH/FIN");
            Assert.That(output[0], Has.Length.EqualTo(52 + 2 * Mss));
            Assert.That(output[1], Has.Length.EqualTo(52 + 2 * Mss));
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(output[1].AsSpan(24)), Is.EqualTo(SuperPackets.Seq + 2 * Mss));
        }
    }

    [Test]
    public void ShortSegment_EndsTheSuperPacket()
    {
        var a = Segments(false, 3 * Mss, flags: Ack);
        var shortOne = Segments(false, Mss + 500, flags: Ack)[1]; // seq = Seq + Mss, 500 bytes
        var third = Mutated(a[2], p => BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(Tcp(p) + 4), SuperPackets.Seq + Mss + 500));
        var (n, output, _) = Run([a[0], shortOne, third]);
        Assert.That(n, Is.EqualTo(2));
        Assert.That(output[0], Has.Length.EqualTo(52 + Mss + 500));
        Assert.That(output[1], Is.EqualTo(third));
    }

    [Test]
    public void FixedIdWithDf_Merges_IncrementingOrFixedOnly()
    {
        var s = Segments(false, 3 * Mss, flags: Ack);
        var fixedIds = s.Select(p => Mutated(p, q => BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(4), 0x4242))).ToArray();
        Assert.That(Run(fixedIds).Count, Is.EqualTo(1), "DF set and a fixed id: an atomic flow (inet_gro_flush)");

        var noDf = fixedIds.Select(p => Mutated(p, q => q[6] &= 0xBF)).ToArray();
        Assert.That(Run(noDf).Count, Is.EqualTo(3), "fixed id without DF");

        var jump = Mutated(s[1], q => BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(4), 0x5000));
        AssertNotMerged(s[0], jump, "id neither incrementing nor fixed");
    }

    // ---- what must not merge ----

    [Test]
    public void DifferentHeaders_DoNotMerge()
    {
        var s = Segments(false, 2 * Mss, flags: Ack);
        var (a, b) = (s[0], s[1]);
        int t = Tcp(a);
        AssertNotMerged(a, Mutated(b, p => BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(t + 4), SuperPackets.Seq + Mss + 1)), "gap in seq");
        AssertNotMerged(a, Mutated(b, p => BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(t + 4), SuperPackets.Seq)), "retransmission");
        AssertNotMerged(a, Mutated(b, p => p[t + 3] ^= 1), "other destination port");
        AssertNotMerged(a, Mutated(b, p => p[19] ^= 1), "other destination address");
        AssertNotMerged(a, Mutated(b, p => p[1] = 0x02), "TOS (ECN bits)");
        AssertNotMerged(a, Mutated(b, p => p[8] = 63), "TTL");
        AssertNotMerged(a, Mutated(b, p => p[6] &= 0xBF), "DF");
        AssertNotMerged(a, Mutated(b, p => p[t + 11] ^= 1), "ACK number");
        AssertNotMerged(a, Mutated(b, p => p[t + 15] ^= 1), "window");
        AssertNotMerged(a, Mutated(b, p => p[t + 31] ^= 1), "timestamp option");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = Ack | Syn), "SYN");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = Ack | Rst), "RST");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = Ack | Urg), "URG");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = Ack | Ece), "ECE differs");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = Ack | Cwr), "CWR on a later segment");
        AssertNotMerged(a, Mutated(b, p => p[t + 13] = 0), "ACK flag differs");
        AssertNotMerged(Mutated(a, p => p[t + 13] = Ack | Psh), b, "PSH on the first");
        AssertNotMerged(Mutated(a, p => p[t + 13] = Ack | Fin), b, "FIN on the first");
        AssertNotMerged(a, Mutated(b, p => p[100] ^= 0x40, fix: false), "bad TCP checksum on the second");
        AssertNotMerged(Mutated(a, p => p[100] ^= 0x40, fix: false), b, "bad TCP checksum on the first");
        AssertNotMerged(a, Mutated(b, p => p[10] ^= 1, fix: false), "bad IPv4 header checksum");
    }

    [Test]
    public void DifferentHeaders_IPv6_DoNotMerge()
    {
        var s = Segments(true, 2 * Mss, flags: Ack);
        AssertNotMerged(s[0], Mutated(s[1], p => p[1] ^= 0x10), "traffic class");
        AssertNotMerged(s[0], Mutated(s[1], p => p[3] ^= 1), "flow label");
        AssertNotMerged(s[0], Mutated(s[1], p => p[7] = 63), "hop limit");
        AssertNotMerged(s[0], Mutated(s[1], p => p[39] ^= 1), "destination");
    }

    [Test]
    public void DifferentSizesAndShapes_DoNotMerge()
    {
        var small = Segments(false, 2 * 1000, mss: 1000, flags: Ack);
        var second = Segments(false, 1000 + 2400, mss: 1200, flags: Ack)[1];
        BinaryPrimitives.WriteUInt32BigEndian(second.AsSpan(24), SuperPackets.Seq + 1000);
        FixL4(second);
        AssertNotMerged(small[0], second, "a later segment larger than gso_size");

        var shorterOptions = Segments(false, 2 * Mss, flags: Ack, tcpOptions: 0);
        AssertNotMerged(Segments(false, 2 * Mss, flags: Ack)[0], shorterOptions[1], "TCP header length");

        var withIpOptions = Segments(false, 2 * Mss, flags: Ack).Select(p =>
        {
            var q = new byte[p.Length + 4];
            p.AsSpan(0, 20).CopyTo(q);
            q[0] = 0x46;
            q[20] = q[21] = q[22] = q[23] = 1;
            p.AsSpan(20).CopyTo(q.AsSpan(24));
            BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(2), (ushort)q.Length);
            FixL4(q);
            return q;
        }).ToArray();
        AssertNotMerged(withIpOptions[0], withIpOptions[1], "IPv4 options (inet_gro_receive takes IHL 5 only)");
    }

    [Test]
    public void NoTailRoom_NoMerge()
    {
        var s = Segments(false, 2 * Mss, flags: Ack);
        var (n, output, _) = Run(s, capacity: PacketBuffer.DefaultHeadroom + 52 + Mss + 100);
        Assert.That(n, Is.EqualTo(2));
        Assert.That(output, Is.EqualTo(s));
    }

    [Test]
    public void OversizedOrAlreadyOffloaded_AreWrittenAsTheyAre()
    {
        var s = Segments(false, 3 * Mss, flags: Ack);
        var buffers = Load(s);
        buffers[1].Offload = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.None, 0, 0, 20, 16);
        Assert.That(new GroCoalescer(8).Coalesce(buffers), Is.EqualTo(3));
        Assert.That(buffers[1].Offload.Flags, Is.EqualTo(VirtioNetHeader.NeedsCsum), "kept as it came");

        var gro = new GroCoalescer(8) { MaxSegmentLength = 1400 };
        Assert.That(gro.Coalesce(Load(s)), Is.EqualTo(3), "longer than the MTU: never a gso_size");
    }

    // ---- order ----

    [Test]
    public void InterleavedFlows_EachMerges_OrderWithinFlowsKept()
    {
        var a = Segments(false, 3 * Mss, flags: Ack, port: 1111, seed: 1);
        var b = Segments(false, 2 * Mss, flags: Ack, port: 2222, seed: 2);
        var other = Segments(false, 100, port: 3333)[0];
        var buffers = Load([a[0], b[0], a[1], other, b[1], a[2]]);
        var gro = new GroCoalescer(8);
        int n = gro.Coalesce(buffers);
        var output = buffers.Take(n).Select(x => x.Data.ToArray()).ToArray();
        Assert.That(n, Is.EqualTo(3));
        Assert.That((gro.SuperPackets, gro.SegmentsMerged), Is.EqualTo((2L, 3L)));
        Assert.That(output[0], Has.Length.EqualTo(52 + 3 * Mss), "A at A1's place");
        Assert.That(output[1], Has.Length.EqualTo(52 + 2 * Mss), "B at B1's place");
        Assert.That(output[2], Is.EqualTo(other));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(output[1].AsSpan(20)), Is.EqualTo(2222));
        Assert.That(buffers.Skip(3).All(x => x.Verdict == DropReason.None), "the appended buffers behind the count");
    }

    [Test]
    public void ANonMergingPacketOfTheFlow_ClosesItsSuperPacket()
    {
        var s = Segments(false, 4 * Mss, flags: Ack);
        var pureAck = s[2].AsSpan(0, 52).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(pureAck.AsSpan(2), 52);
        FixL4(pureAck);
        var (n, output, _) = Run([s[0], s[1], pureAck, s[2], s[3]]);
        Assert.That(n, Is.EqualTo(3), "[0+1], ack, [2+3]: nothing moves past the ACK");
        Assert.That(output[1], Is.EqualTo(pureAck));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(output[2].AsSpan(24)), Is.EqualTo(SuperPackets.Seq + 2 * Mss));

        var corrupt = Mutated(s[2], p => p[200] ^= 1, fix: false);
        (n, output, _) = Run([s[0], s[1], corrupt, s[3]]);
        Assert.That(n, Is.EqualTo(3), "[0+1], the corrupt one untouched (it closes the flow), then 3 alone");
        Assert.That(output[1], Is.EqualTo(corrupt));
        Assert.That(output[2], Is.EqualTo(s[3]));
    }

    [Test]
    public void PacketsWithAVerdict_GoBehindTheCount()
    {
        var s = Segments(false, 3 * Mss, flags: Ack);
        var buffers = Load(s);
        buffers[1].Verdict = DropReason.NoRoute;
        int n = new GroCoalescer(4).Coalesce(buffers);
        Assert.That(n, Is.EqualTo(2), "0 and 2 are not contiguous");
        Assert.That(buffers[..2].Select(b => b.Data.ToArray()), Is.EqualTo(new[] { s[0], s[2] }));
        Assert.That(buffers[2].Verdict, Is.EqualTo(DropReason.NoRoute));
    }

    [Test]
    public void Garbage_IsWrittenAsItIs_NeverThrows()
    {
        var gen = Gen.Byte.Array[0, 200].Array[1, 16];
        var gro = new GroCoalescer(16);
        gen.Sample(packets =>
        {
            var buffers = Load(packets, 512);
            int n = gro.Coalesce(buffers);
            return n == packets.Length && buffers.Select(b => b.Data.ToArray()).Zip(packets).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        }, iter: 500);
    }

    // ---- partial checksums ----

    [Test]
    public void PartialChecksums_MergeOnlyWhenAccepted()
    {
        var s = Segments(false, 3 * Mss - 10, flags: Ack).Select(p => Mutated(p, q => { }, fix: false)).ToArray();
        foreach (var p in s)
            FixL4(p, partial: true);
        Assert.That(TransportChecksum.Classify(s[0]), Is.EqualTo(TransportChecksumStatus.Partial));

        var (n, output, _) = Run(s);
        Assert.That(n, Is.EqualTo(3), "not accepted: untouched");
        Assert.That(output, Is.EqualTo(s));

        var (m, merged, buffers) = Run(s, partial: true);
        Assert.That(m, Is.EqualTo(1));
        Assert.That(merged[0], Is.EqualTo(SuperPackets.Tcp(false, SuperPackets.Payload(3 * Mss - 10), Ack)));
        Assert.That(buffers[0].Offload.GsoType, Is.EqualTo(GsoType.TcpV4));

        var (k, single, singleBuffers) = Run([s[0]], partial: true);
        Assert.That(k, Is.EqualTo(1));
        Assert.That(single[0], Is.EqualTo(s[0]));
        var hdr = singleBuffers[0].Offload;
        Assert.That((hdr.Flags, hdr.GsoType, hdr.CsumStart, hdr.CsumOffset), Is.EqualTo((VirtioNetHeader.NeedsCsum, GsoType.None, (ushort)20, (ushort)16)));
    }

    [Test]
    public void KernelPeerBatch_CoalesceThenPrepare_EverythingBecomesValidSegments()
    {
        // What a kernel flannel.1 over veth sends: every checksum partial, a SYN, MSS-sized data, a 5-MSS super-packet.
        const int Mtu = 1450, PeerMss = Mtu - 52;
        var syn = Mutated(Segments(false, 10, port: 9)[0], p => p[33] = Syn, fix: false);
        FixL4(syn, partial: true);
        var data = Segments(false, 3 * PeerMss, mss: PeerMss, flags: Ack).Select(p => Mutated(p, _ => { }, fix: false)).ToArray();
        foreach (var p in data)
            FixL4(p, partial: true);
        var big = SuperPackets.Tcp(false, SuperPackets.Payload(5 * PeerMss, 3), flags: Ack);
        BinaryPrimitives.WriteUInt16BigEndian(big.AsSpan(20), 7);
        FixL4(big, partial: true);

        var buffers = Load([syn, data[0], data[1], big, data[2]]);
        var gro = new GroCoalescer(8, acceptPartialChecksums: true) { MaxSegmentLength = Mtu };
        int n = gro.Coalesce(buffers);
        Assert.That(n, Is.EqualTo(3), "syn, data[0..2] as one, big");
        for (int i = 0; i < n; i++)
        {
            if (buffers[i].Offload.GsoType != GsoType.None || buffers[i].Offload.Flags != 0)
                continue;
            Assert.That(TransportChecksum.PrepareTunWrite(buffers[i].Data, Mtu, out var hdr), Is.EqualTo(DropReason.None));
            buffers[i].Offload = hdr;
        }
        Assert.That(buffers[..3].Select(b => b.Offload.GsoType), Is.EqualTo(new[] { GsoType.None, GsoType.TcpV4, GsoType.TcpV4 }));
        Assert.That(buffers[0].Offload.Flags, Is.EqualTo(VirtioNetHeader.NeedsCsum), "the partial SYN: NEEDS_CSUM");

        // What the kernel makes of each write: segments of at most the MTU, every checksum valid.
        int segments = 0;
        for (int i = 0; i < n; i++)
        {
            var dest = Enumerable.Range(0, 8).Select(_ => new PacketBuffer(2048)).ToArray();
            int m = GsoSegmenter.Split(buffers[i].Data, buffers[i].Offload, dest, out var reason);
            Assert.That(reason, Is.EqualTo(DropReason.None));
            foreach (var segment in dest.Take(m))
            {
                Assert.That(segment.Length, Is.LessThanOrEqualTo(Mtu));
                Assert.That(TransportChecksum.Classify(segment.Data), Is.EqualTo(TransportChecksumStatus.Valid));
                segments++;
            }
        }
        Assert.That(segments, Is.EqualTo(1 + 3 + 5));
    }

    // ---- UDP (USO) ----

    /// <summary>The datagrams USO would send for <see cref="SuperPackets.Udp"/>: final lengths and checksums, ids + i.</summary>
    private static byte[][] Datagrams(bool ipv6, int payloadLength, int size)
    {
        var super = SuperPackets.Udp(ipv6, SuperPackets.Payload(payloadLength));
        var dest = Enumerable.Range(0, (payloadLength + size - 1) / size).Select(_ => new PacketBuffer(4096)).ToArray();
        int n = GsoSegmenter.Split(super, SuperPackets.Header(super, (ushort)size), dest, out var reason);
        Assert.That(reason, Is.EqualTo(DropReason.None));
        return dest.Take(n).Select(b => b.Data.ToArray()).ToArray();
    }

    [TestCase(false)]
    [TestCase(true)]
    public void UdpDatagrams_MergeOnlyWhenAsked_AndSplitBack(bool ipv6)
    {
        int payload = 9 * 1200 + 700;
        var datagrams = Datagrams(ipv6, payload, 1200);
        var (n, output, _) = Run(datagrams);
        Assert.That(n, Is.EqualTo(10), "CoalesceUdp off: untouched");
        Assert.That(output, Is.EqualTo(datagrams));

        (n, output, var buffers) = Run(datagrams, udp: true);
        Assert.That(n, Is.EqualTo(1));
        Assert.That(output[0], Is.EqualTo(SuperPackets.Udp(ipv6, SuperPackets.Payload(payload))), "lengths and the partial sum as USO expects");
        var hdr = buffers[0].Offload;
        int ip = ipv6 ? 40 : 20;
        Assert.That((hdr.Flags, hdr.GsoType, hdr.GsoSize, hdr.HdrLen, hdr.CsumStart, hdr.CsumOffset, hdr.Ecn),
            Is.EqualTo((VirtioNetHeader.NeedsCsum, GsoType.UdpL4, (ushort)1200, (ushort)(ip + 8), (ushort)ip, (ushort)6, false)));

        var dest = Enumerable.Range(0, 16).Select(_ => new PacketBuffer(4096)).ToArray();
        int m = GsoSegmenter.Split(output[0], hdr, dest, out var reason);
        Assert.That(reason, Is.EqualTo(DropReason.None));
        Assert.That(dest.Take(m).Select(b => b.Data.ToArray()), Is.EqualTo(datagrams), "split gives the datagrams back");
    }

    [Test]
    public void UdpDatagrams_SizesZeroChecksumAndCount()
    {
        var d = Datagrams(false, 4 * 1200, 1200);
        var shortOne = Datagrams(false, 2 * 1200 + 800, 1200)[2];
        var (n, output, _) = Run([d[0], d[1], shortOne, d[3]], udp: true);
        Assert.That(n, Is.EqualTo(2), "a shorter datagram ends the super-packet");
        Assert.That(output[0], Has.Length.EqualTo(28 + 2 * 1200 + 800));
        Assert.That(output[1], Is.EqualTo(d[3]));

        var larger = Datagrams(false, 1000 + 2 * 1200, 1200)[1];
        var small = Datagrams(false, 2 * 1000, 1000);
        (n, _, _) = Run([small[0], larger], udp: true);
        Assert.That(n, Is.EqualTo(2), "a larger datagram does not join");

        var noChecksum = d.Select(p => Mutated(p, q => q[26] = q[27] = 0, fix: false)).ToArray();
        (n, output, _) = Run(noChecksum, udp: true);
        Assert.That(n, Is.EqualTo(4), "no checksum, no GRO (udp_gro_receive_segment)");
        Assert.That(output, Is.EqualTo(noChecksum));

        var many = Datagrams(false, 70 * 400, 400);
        (n, output, _) = Run(many, udp: true);
        Assert.That(n, Is.EqualTo(2), "at most 64 datagrams (UDP_GRO_CNT_MAX)");
        Assert.That(output[0], Has.Length.EqualTo(28 + 64 * 400));
        Assert.That(output[1], Has.Length.EqualTo(28 + 6 * 400));
    }

    [Test]
    public void TcpAndUdp_OnTheSamePorts_AreDifferentFlows()
    {
        var d = Datagrams(false, 2 * 1200, 1200).Select(p => Mutated(p, q =>
        {
            q.AsSpan(12, 8).Clear();
            BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(20), 40000);
            BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(22), 5201);
        }, fix: false)).ToArray();
        var t = Segments(false, 2 * 1200, mss: 1200, flags: Ack).Select(p => Mutated(p, q => q.AsSpan(12, 8).Clear(), fix: false)).ToArray();
        foreach (var p in d)
        {
            new Ipv4Header(p).UpdateChecksum();
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(26), 0);
            ushort c = SuperPackets.ReferenceL4Checksum(p);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(26), c == 0 ? (ushort)0xFFFF : c);
        }
        foreach (var p in t)
            FixL4(p);
        var (n, output, buffers) = Run([t[0], d[0], t[1], d[1]], udp: true);
        Assert.That(n, Is.EqualTo(2));
        Assert.That(buffers[0].Offload.GsoType, Is.EqualTo(GsoType.TcpV4));
        Assert.That(buffers[1].Offload.GsoType, Is.EqualTo(GsoType.UdpL4));
        Assert.That(output[1][9], Is.EqualTo(IpProtocol.Udp));
    }

    // ---- allocation ----

    [Test]
    public void Coalesce_DoesNotAllocate()
    {
        var segments = Segments(false, 44 * Mss).Concat(Segments(true, 10 * Mss, port: 7)).Concat(Datagrams(false, 20 * 1000, 1000)).ToArray();
        var buffers = Load(segments);
        var work = new PacketBuffer[buffers.Length];
        var gro = new GroCoalescer(buffers.Length) { CoalesceUdp = true };
        int total = 0;
        Allocations.AssertSteadyStateAllocatesNothing(() => total = Loop(1000));
        Assert.That(total, Is.EqualTo(3000));

        int Loop(int times)
        {
            int sum = 0;
            for (int n = 0; n < times; n++)
            {
                for (int i = 0; i < buffers.Length; i++)
                {
                    buffers[i].Reset();
                    buffers[i].Load(segments[i]);
                    work[i] = buffers[i];
                }
                sum += gro.Coalesce(work);
            }
            return sum;
        }
    }
}

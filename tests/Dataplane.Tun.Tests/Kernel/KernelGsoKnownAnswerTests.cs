using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests.Kernel;

/// <summary>
/// Known answers from the kernel's own software GSO: a TSO/USO super-packet is written with its virtio_net_hdr into
/// a TUN opened with IFF_VNET_HDR, forwarded out of a veth whose segmentation offload is off (so the kernel must
/// segment in software: validate_xmit_skb → skb_gso_segment → tcp_gso_segment / __udp_gso_segment), and the
/// segments captured on the far end must equal what <see cref="GsoSegmenter.Split"/> makes of the same packet,
/// byte for byte.
/// </summary>
/// <remarks>
/// <para>Two things differ legitimately and are accounted for, not ignored. TTL: forwarding decrements it before
/// the packet reaches GSO (ip_forward), so we split a copy of the super-packet with TTL − 1, which is exactly the
/// input the kernel segmented (the IP checksum of the input does not matter: both sides recompute it per segment).
/// L4 checksum: the veth keeps tx checksum offload, so the kernel leaves each segment CHECKSUM_PARTIAL and the
/// capture shows the folded pseudo-header sum for that segment's length in the checksum field (gso_reset_checksum).
/// The test asserts exactly that value, then completes it the way a NIC would (<see cref="GsoSegmenter.CompleteChecksum"/>
/// over csum_start = IP header length) and compares the whole segment with ours. If a kernel hands over full
/// checksums instead, they are compared as they are. Only veth's segmentation setting is changed: checksum
/// offload is left alone so that the partial-checksum contract is exercised too.</para>
/// <para>Addresses: underlay 198.18.0.1/.2 on the veth, inner 10.244.1.2 → 10.244.2.3; everything lives in two
/// namespaces that <see cref="NetnsScope"/> deletes, also on failure. Nothing is routed in the root namespace.</para>
/// </remarks>
[TestFixture, Category("Privileged"), NonParallelizable]
public class KernelGsoKnownAnswerTests
{
    private static readonly Ipv4Address Source = Ipv4Address.Parse("10.244.1.2");
    private static readonly Ipv4Address Destination = Ipv4Address.Parse("10.244.2.3");

    [SetUp]
    public void Require()
    {
        Prerequisites.RequireNetns();
        Prerequisites.RequireTool("tcpdump");
        Prerequisites.RequireTool("ethtool");
        Prerequisites.RequireTool("sysctl");
    }

    [TestCase(1448, 10 * 1448 + 100, TestName = "Tcp4_KernelSegments_EqualOurSplit(mss 1448, 11 segments, short tail)")]
    [TestCase(1410, 45 * 1410, TestName = "Tcp4_KernelSegments_EqualOurSplit(mss 1410, 45 full segments)")]
    [TestCase(536, 3 * 536 + 1, TestName = "Tcp4_KernelSegments_EqualOurSplit(mss 536, 1-byte tail)")]
    public void Tcp4_KernelSegments_EqualOurSplit(int mss, int payloadLength)
    {
        var packet = TcpV4(payloadLength);
        var hdr = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.TcpV4, 20 + 32, (ushort)mss, 20, 16, ecn: true);
        CompareWithKernel(packet, hdr, "tcp", "tso off");
    }

    [TestCase(1400, 20 * 1400 + 7, TestName = "Udp4_KernelSegments_EqualOurSplit(size 1400, 21 datagrams)")]
    public void Udp4_KernelSegments_EqualOurSplit(int size, int payloadLength)
    {
        var packet = UdpV4(payloadLength);
        var hdr = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.UdpL4, 20 + 8, (ushort)size, 20, 6);
        CompareWithKernel(packet, hdr, "udp", "tx-udp-segmentation off");
    }

    private static void CompareWithKernel(byte[] packet, VirtioNetHeader hdr, string filter, string ethtoolSetting)
    {
        Assert.That(GsoSegmenter.TryPlan(packet, hdr, out var plan), Is.EqualTo(DropReason.None));

        // Ours: the super-packet as the kernel's GSO sees it, after ip_forward's TTL decrement.
        var forwarded = packet.ToArray();
        forwarded[8]--;
        var buffers = Enumerable.Range(0, plan.SegmentCount).Select(_ => new PacketBuffer(2048)).ToArray();
        Assert.That(GsoSegmenter.Split(forwarded, hdr, buffers, out var reason), Is.EqualTo(plan.SegmentCount));
        Assert.That(reason, Is.EqualTo(DropReason.None));

        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var tun = NetworkNamespace.Run(a, () => VnetHdrTun.Open("gso0"));
        NetnsScope.Exec(a, "ip addr add 10.244.1.1/24 dev gso0");
        NetnsScope.Exec(a, "ip link set gso0 up");
        NetnsScope.Exec(a, "ip route add 10.244.2.0/24 via 198.18.0.2 dev eth0");
        NetnsScope.Exec(a, "sysctl -qw net.ipv4.ip_forward=1");
        NetnsScope.Exec(a, $"ethtool -K eth0 {ethtoolSetting}");
        TestContext.Out.WriteLine($"TUNSETOFFLOAD accepted 0x{tun.Offloads:x}; {plan}");

        var frames = new List<byte[]>();
        using (var capture = PcapCapture.Start(b, "eth0", filter, plan.SegmentCount, TimeSpan.FromSeconds(10)))
        {
            var write = new byte[VirtioNetHeader.Length + packet.Length];
            hdr.Write(write);
            packet.CopyTo(write, VirtioNetHeader.Length);
            tun.Write(write);
            foreach (var frame in capture.Finish())
                frames.Add(frame.Bytes[14..]); // Ethernet header off; the segments fill their frames (no padding)
        }
        Assert.That(frames, Has.Count.EqualTo(plan.SegmentCount), "the kernel's segment count");

        int partial = 0;
        for (int i = 0; i < frames.Count; i++)
        {
            var kernel = frames[i];
            var ours = buffers[i].Data.ToArray();
            Assert.That(kernel, Has.Length.EqualTo(ours.Length), $"segment {i} length");
            int field = plan.IpHeaderLength + hdr.CsumOffset;
            ushort stored = BinaryPrimitives.ReadUInt16BigEndian(kernel.AsSpan(field));
            if (stored != BinaryPrimitives.ReadUInt16BigEndian(ours.AsSpan(field)))
            {
                // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum for this segment's L4 length.
                int l4Length = kernel.Length - plan.IpHeaderLength;
                byte protocol = plan.IsTcp ? IpProtocol.Tcp : IpProtocol.Udp;
                ushort pseudo = Checksum.Fold(Checksum.PseudoHeaderSum(kernel.AsSpan(12, 8), protocol, (uint)l4Length));
                Assert.That(stored, Is.EqualTo(pseudo), $"segment {i}: kernel checksum field is neither ours nor the partial pseudo-header sum");
                var complete = new VirtioNetHeader(VirtioNetHeader.NeedsCsum, GsoType.None, 0, 0, (ushort)plan.IpHeaderLength, hdr.CsumOffset);
                Assert.That(GsoSegmenter.CompleteChecksum(kernel, complete), Is.EqualTo(DropReason.None));
                partial++;
            }
            Assert.That(Convert.ToHexString(ours), Is.EqualTo(Convert.ToHexString(kernel)), $"segment {i} of {frames.Count}");
        }
        TestContext.Out.WriteLine($"{frames.Count} segments equal; {partial} carried a partial checksum completed before comparing");
    }

    /// <summary>
    /// A TCPv4 super-packet as the stack hands it to a TSO device: DF, id near the wrap, seq near the wrap,
    /// NOP,NOP,timestamp options, ACK|PSH|FIN|CWR (so the per-segment flag rules show), and the checksum field
    /// holding the folded pseudo-header sum over the whole L4 length (__tcp_v4_send_check), which
    /// tcp_gso_segment adjusts per segment.
    /// </summary>
    private static byte[] TcpV4(int payloadLength)
    {
        const int ip = 20, tcp = 32;
        var bytes = Ipv4WithPorts(IpProtocol.Tcp, tcp, payloadLength, id: 0xFFF0);
        var t = bytes.AsSpan(ip);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], 0xFFFF_F000);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], 0x1234_5678);
        t[12] = tcp / 4 << 4;
        t[13] = 0x80 | 0x10 | 0x08 | 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 501);
        t[20] = 1; t[21] = 1; t[22] = 8; t[23] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(t[24..], 0xCAFE_0001);
        BinaryPrimitives.WriteUInt32BigEndian(t[28..], 0xCAFE_0002);
        FillAndSetPartial(bytes, ip, tcp, IpProtocol.Tcp, 16);
        return bytes;
    }

    /// <summary>A UDPv4 USO super-packet: UDP length over the whole datagram, partial checksum as udp_send_skb leaves it.</summary>
    private static byte[] UdpV4(int payloadLength)
    {
        const int ip = 20, udp = 8;
        var bytes = Ipv4WithPorts(IpProtocol.Udp, udp, payloadLength, id: 0x0100);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(ip + 4), (ushort)(udp + payloadLength));
        FillAndSetPartial(bytes, ip, udp, IpProtocol.Udp, 6);
        return bytes;
    }

    /// <summary>IPv4 (DF, TTL 64, 10.244.1.2 → 10.244.2.3) with room for the L4 header and payload; ports 40000 → 5201.</summary>
    private static byte[] Ipv4WithPorts(byte protocol, int l4HeaderLength, int payloadLength, ushort id)
    {
        var bytes = new byte[Ipv4Header.MinimumLength + l4HeaderLength + payloadLength];
        Ipv4Header.Write(bytes, new Ipv4HeaderFields(0, (ushort)bytes.Length, id, true, 64, protocol, Source, Destination));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(Ipv4Header.MinimumLength), 40000);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(Ipv4Header.MinimumLength + 2), 5201);
        return bytes;
    }

    private static void FillAndSetPartial(byte[] bytes, int ipLength, int l4HeaderLength, byte protocol, int checksumOffset)
    {
        for (int i = ipLength + l4HeaderLength; i < bytes.Length; i++)
            bytes[i] = (byte)(i * 13 + (i >> 9));
        ulong pseudo = Checksum.PseudoHeaderSum(bytes.AsSpan(12, 8), protocol, (uint)(bytes.Length - ipLength));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(ipLength + checksumOffset), Checksum.Fold(pseudo));
    }
}

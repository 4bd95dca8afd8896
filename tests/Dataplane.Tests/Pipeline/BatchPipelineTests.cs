using Dataplane.Testing;
using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Offload;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tests.Fakes;
using Dataplane.Tests.Offload;
using PacketDotNet;

namespace Dataplane.Tests.Pipeline;

/// <summary>
/// The batch path driven synchronously (no threads): TSO super-packets from an offload TUN are split, encapsulated and
/// sent as GSO trains within the kernel's limits; the peer's TUN gets ordinary, valid segments in order.
/// </summary>
public class BatchPipelineTests
{
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:00:00:00:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:00:00:00:0b");
    private const int Mtu = 1472;

    private sealed class Node
    {
        public readonly ChannelTunDevice Tun = new(batchSize: 16, TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6);
        public readonly ForwardingTable Table = new();
        public readonly PeerFilter Peers = new();
        public readonly DropCounters Drops = new();
        public readonly InMemoryUnderlay Udp;
        public readonly OutboundPump Out;
        public readonly InboundPump In;
        public int WrittenSuperPackets;

        public Node(InMemoryNetwork net, string address, MacAddress mac, EncapsulationKind kind, bool gso, bool gro = false)
        {
            ushort port = kind == EncapsulationKind.Vxlan ? (ushort)8472 : (ushort)8285;
            Udp = net.Bind(address, port, batchSize: 64, gso: gso, gro: gro);
            IEncapsulation encapsulation = kind == EncapsulationKind.Vxlan ? new VxlanEncapsulation(1, mac, Mtu - 22) : new FlannelUdpEncapsulation(Mtu);
            var binding = new UnderlayBinding(encapsulation, Udp);
            Out = new OutboundPump(Tun, Table, [binding], Drops);
            In = new InboundPump(binding, Tun, Peers, Drops);
        }

        /// <summary>Receives and delivers everything queued on the socket.</summary>
        public void DrainInbound()
        {
            for (int i = 0; i < 1000 && In.Pump(wait: false).IsOk; i++)
            {
            }
        }
    }

    private static (Node A, Node B) Pair(EncapsulationKind kind, bool gso = true, bool gro = false)
    {
        var net = new InMemoryNetwork();
        var a = new Node(net, "198.18.0.1", MacA, kind, gso, gro);
        var b = new Node(net, "198.18.0.2", MacB, kind, gso, gro);
        ushort port = kind == EncapsulationKind.Vxlan ? (ushort)8472 : (ushort)8285;
        a.Table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse("10.244.2.0/24"), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse("198.18.0.2"), port), kind, MacB, 1))]);
        b.Peers.Replace([Ipv4Address.Parse("198.18.0.1")]);
        return (a, b);
    }

    private static PacketBuffer FromTun(byte[] packet, VirtioNetHeader header)
    {
        var buffer = new PacketBuffer(PacketBufferPool.LargeBufferSize);
        buffer.Load(packet);
        buffer.Offload = header;
        return buffer;
    }

    /// <summary>
    /// What the node's kernel would make of the TUN writes: a GRO'd super-packet split back into its segments and a
    /// NEEDS_CSUM packet completed (as the kernel does), so assertions see the segments the pods receive.
    /// </summary>
    private static List<byte[]> Written(Node node)
    {
        var list = new List<byte[]>();
        var headers = node.Tun.WrittenHeaders.ToArray();
        node.Tun.WrittenHeaders.Clear();
        int i = 0;
        while (node.Tun.Written.TryTake(out var p))
        {
            var header = headers[i++];
            if (header.GsoType == GsoType.None && !header.NeedsChecksum)
            {
                list.Add(p);
                continue;
            }
            node.WrittenSuperPackets += header.GsoType != GsoType.None ? 1 : 0;
            var outs = Enumerable.Range(0, 128).Select(_ => new PacketBuffer(4096)).ToArray();
            int n = GsoSegmenter.Split(p, header, outs, out var reason);
            Assert.That(reason, Is.EqualTo(DropReason.None), $"the offload header written with packet {i - 1} is valid");
            list.AddRange(outs.Take(n).Select(o => o.Data.ToArray()));
        }
        return list;
    }

    // MSS = MTU − 52 (IPv4 + TCP with timestamps): flannel0 1472 → 1420, flannel.1 1450 → 1398.
    [TestCase(EncapsulationKind.FlannelUdp, 1420, 65000)]
    [TestCase(EncapsulationKind.Vxlan, 1398, 65000)]
    [TestCase(EncapsulationKind.FlannelUdp, 1420, 1)]
    [TestCase(EncapsulationKind.FlannelUdp, 1420, 1419)]
    [TestCase(EncapsulationKind.FlannelUdp, 1420, 1420)]
    [TestCase(EncapsulationKind.Vxlan, 1398, 1399)]
    [TestCase(EncapsulationKind.Vxlan, 536, 65000)]
    public void TsoSuperPacket_ArrivesAsValidSegmentsInOrder_InGsoTrainsWithinTheKernelsLimits(EncapsulationKind kind, int mss, int payloadLength)
    {
        var (a, b) = Pair(kind);
        var payload = SuperPackets.Payload(payloadLength);
        var super = SuperPackets.Tcp(false, payload);
        a.Out.Forward([FromTun(super, SuperPackets.Header(super, (ushort)mss))]);

        int expected = (payloadLength + mss - 1) / mss;
        Assert.That(a.Drops.Total, Is.Zero, a.Drops.ToString());
        Assert.That(a.Out.Sent.Packets, Is.EqualTo(expected), "one datagram per segment");
        Assert.That(a.Udp.SendCalls, Is.EqualTo(1), "every train of the super-packet in one sendmmsg");
        var messages = a.Udp.SentMessages.ToArray();
        Assert.That(messages.Sum(m => m.Datagrams), Is.EqualTo(expected));
        int segmentBytes = (kind == EncapsulationKind.Vxlan ? 22 : 0) + 20 + 32 + mss;
        foreach (var (datagrams, segmentSize) in messages)
        {
            Assert.That(datagrams, Is.LessThanOrEqualTo(DatagramBatch.MaxSegments));
            Assert.That((long)datagrams * segmentSize, Is.LessThanOrEqualTo(DatagramBatch.MaxGsoPayload), "a train fits 65,507 bytes of UDP payload");
        }
        if (expected > 1)
        {
            Assert.That(messages[0].SegmentSize, Is.EqualTo(segmentBytes), "trains are cut at the segment size");
            int perTrain = Math.Min(DatagramBatch.MaxSegments, DatagramBatch.MaxGsoPayload / segmentBytes);
            Assert.That(messages, Has.Length.EqualTo((expected + perTrain - 1) / perTrain), "as few trains as the limits allow");
        }

        b.DrainInbound();
        var segments = Written(b);
        Assert.That(b.Drops.Total, Is.Zero, b.Drops.ToString());
        Assert.That(segments, Has.Count.EqualTo(expected));
        var joined = new List<byte>();
        uint seq = SuperPackets.Seq;
        for (int i = 0; i < segments.Count; i++)
        {
            var ip = (IPv4Packet)Packet.ParsePacket(LinkLayers.Raw, segments[i]).Extract<IPv4Packet>();
            var tcp = ip.Extract<TcpPacket>();
            Assert.That(ip.ValidIPChecksum, Is.True, $"segment {i}: IPv4 header checksum");
            Assert.That(tcp.ValidTcpChecksum, Is.True, $"segment {i}: TCP checksum");
            Assert.That(tcp.SequenceNumber, Is.EqualTo(seq), $"segment {i}: contiguous sequence numbers");
            Assert.That(tcp.Push, Is.EqualTo(i == segments.Count - 1), $"segment {i}: PSH only on the last");
            Assert.That(ip.TimeToLive, Is.EqualTo(kind == EncapsulationKind.FlannelUdp ? 62 : 64), "flannel-udp decrements TTL on send and on receive");
            Assert.That(segments[i].Length, Is.LessThanOrEqualTo(Mtu));
            seq += (uint)tcp.PayloadData.Length;
            joined.AddRange(tcp.PayloadData);
        }
        Assert.That(joined.ToArray(), Is.EqualTo(payload), "payload intact and in order");
    }

    [TestCase(EncapsulationKind.FlannelUdp)]
    [TestCase(EncapsulationKind.Vxlan)]
    public void WithoutUdpGso_EverySegmentIsItsOwnMessage_StillOneSendCall(EncapsulationKind kind)
    {
        var (a, b) = Pair(kind, gso: false);
        var super = SuperPackets.Tcp(false, SuperPackets.Payload(20_000));
        a.Out.Forward([FromTun(super, SuperPackets.Header(super, 1300))]);
        Assert.That(a.Udp.SentMessages.Select(m => m.Datagrams), Is.All.EqualTo(1));
        Assert.That(a.Udp.SentMessages, Has.Count.EqualTo(16));
        Assert.That(a.Udp.SendCalls, Is.EqualTo(1));
        b.DrainInbound();
        Assert.That(Written(b), Has.Count.EqualTo(16));
    }

    [Test]
    public void PartialChecksumOnAPlainPacket_IsCompletedBeforeItLeaves()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        var packet = SuperPackets.Tcp(false, SuperPackets.Payload(300));
        a.Out.Forward([FromTun(packet, SuperPackets.Header(packet, 0))]);
        b.DrainInbound();
        var got = Written(b).Single();
        var tcp = Packet.ParsePacket(LinkLayers.Raw, got).Extract<TcpPacket>();
        Assert.That(tcp.ValidTcpChecksum, Is.True, "the peer's kernel verifies it: it must be complete on the wire");
    }

    [Test]
    public void ABatchMixingSuperPacketsAndPlainPackets_KeepsItsOrder_AndABadHeaderDropsOnlyItsPacket()
    {
        var (a, b) = Pair(EncapsulationKind.Vxlan);
        var first = SuperPackets.Tcp(false, SuperPackets.Payload(5000, seed: 1), seq: 1000);
        var ping = PacketFactory.Ping(dataLength: 100);
        var second = SuperPackets.Tcp(false, SuperPackets.Payload(3000, seed: 2), seq: 6000);
        var lying = SuperPackets.Tcp(false, SuperPackets.Payload(3000, seed: 3));
        var bad = SuperPackets.Header(lying, 1000);
        bad = new VirtioNetHeader(bad.Flags, bad.GsoType, bad.HdrLen, bad.GsoSize, bad.CsumStart, csumOffset: 6); // not TCP's checksum field
        a.Out.Forward([FromTun(first, SuperPackets.Header(first, 1398)), FromTun(ping, default), FromTun(lying, bad), FromTun(second, SuperPackets.Header(second, 1398))]);

        Assert.That(a.Drops[DropReason.BadOffloadHeader], Is.EqualTo(1), a.Drops.ToString());
        Assert.That(a.Drops.Total, Is.EqualTo(1));
        b.DrainInbound();
        var got = Written(b);
        Assert.That(got, Has.Count.EqualTo(4 + 1 + 3));
        Assert.That(got[4][9], Is.EqualTo(IpProtocol.Icmp), "the ping stays between the two super-packets");
        var seqs = got.Where(p => p[9] == IpProtocol.Tcp).Select(p => BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(24))).ToArray();
        Assert.That(seqs, Is.Ordered, "segments in order");
    }

    [TestCase(EncapsulationKind.FlannelUdp)]
    [TestCase(EncapsulationKind.Vxlan)]
    public void GroTrains_AreDeliveredDatagramByDatagram_InOrder_WithEveryCheckPerDatagram(EncapsulationKind kind)
    {
        var (a, b) = Pair(kind, gro: true);
        int mss = kind == EncapsulationKind.Vxlan ? 1398 : 1420;
        var payload = SuperPackets.Payload(30_000);
        var super = SuperPackets.Tcp(false, payload);
        a.Out.Forward([FromTun(super, SuperPackets.Header(super, (ushort)mss))]);
        int segments = (payload.Length + mss - 1) / mss;

        Assert.That(b.In.Pump(wait: false).IsOk);
        Assert.That(b.Udp.Pending, Is.Zero, "one receive took the whole train");
        Assert.That(b.Udp.Trains, Is.EqualTo(1), "the datagrams arrived glued, as UDP_GRO hands them over");
        var got = Written(b);
        Assert.That(b.WrittenSuperPackets, Is.EqualTo(1), "and were coalesced again into one TUN write (GRO)");
        Assert.That(b.In.GroMerged, Is.EqualTo(segments - 1));
        Assert.That(b.Drops.Total, Is.Zero, b.Drops.ToString());
        Assert.That(got, Has.Count.EqualTo(segments));
        Assert.That(b.In.Received.Packets, Is.EqualTo(segments), "each datagram of the train counted");
        Assert.That(got.SelectMany(p => p.Skip(52)).ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public void A_spoofed_datagram_inside_a_gro_train_is_dropped_alone()
    {
        var (_, b) = Pair(EncapsulationKind.FlannelUdp, gro: true);
        var good = PacketFactory.Udp(payloadLength: 100, src: PacketFactory.PodA, dst: Ipv4Address.Parse("10.244.2.9"));
        var spoofed = PacketFactory.Udp(payloadLength: 100, src: Ipv4Address.Parse("192.0.2.1"), dst: Ipv4Address.Parse("10.244.2.9"));
        var filter = new PeerFilter { LocalSubnet = Ipv4Prefix.Parse("10.244.2.0/24"), Routes = RoutesTo("10.244.1.0/24", "198.18.0.1") };
        filter.Replace([Ipv4Address.Parse("198.18.0.1")]);
        var pump = new InboundPump(new UnderlayBinding(new FlannelUdpEncapsulation(Mtu), b.Udp), b.Tun, filter, b.Drops);
        b.Udp.InjectFrom("198.18.0.1", 8285, good);
        b.Udp.InjectFrom("198.18.0.1", 8285, spoofed);
        b.Udp.InjectFrom("198.18.0.1", 8285, good);
        Assert.That(pump.Pump(wait: false).IsOk);
        Assert.That(b.Udp.Trains, Is.EqualTo(1));
        Assert.That(Written(b), Has.Count.EqualTo(2));
        Assert.That(b.Drops[DropReason.InnerSourceNotPeer], Is.EqualTo(1));
    }

    private static ForwardingTable RoutesTo(string prefix, string peer)
    {
        var table = new ForwardingTable();
        table.Apply([RouteUpdate.Upsert(Ipv4Prefix.Parse(prefix), new NextHop(new UnderlayEndpoint(Ipv4Address.Parse(peer), 8285), EncapsulationKind.FlannelUdp))]);
        return table;
    }

    [Test]
    public void SegmentsThatWouldExceedThePeersMtu_AreDroppedAsTooBig_NeverFragmented()
    {
        var (a, _) = Pair(EncapsulationKind.Vxlan);
        var super = SuperPackets.Tcp(false, SuperPackets.Payload(10_000));
        a.Out.Forward([FromTun(super, SuperPackets.Header(super, 1448))]); // 1448 + 52 > 1450
        Assert.That(a.Drops[DropReason.TooBig], Is.EqualTo(1));
        Assert.That(a.Out.Sent.Packets, Is.Zero);
    }

    [Test]
    public void ABatchOfSuperPacketsLargerThanOneVector_IsSentInSeveralCalls_NothingLost()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp);
        var batch = new PacketBuffer[16];
        var payloads = new List<byte[]>();
        for (int i = 0; i < batch.Length; i++)
        {
            var payload = SuperPackets.Payload(64_000, seed: i);
            payloads.Add(payload);
            var super = SuperPackets.Tcp(false, payload, seq: (uint)(i * 64_000));
            batch[i] = FromTun(super, SuperPackets.Header(super, 500));
        }
        a.Out.Forward(batch);
        Assert.That(a.Out.Sent.Packets, Is.EqualTo(16 * 128));
        Assert.That(a.Udp.SendCalls, Is.GreaterThan(1), "2,048 segments overflow one vector (2,048 iovecs): flushed mid-batch");
        b.DrainInbound();
        var got = Written(b);
        Assert.That(got, Has.Count.EqualTo(16 * 128));
        var joined = got.SelectMany(p => p.Skip(52)).ToArray();
        Assert.That(joined, Is.EqualTo(payloads.SelectMany(p => p).ToArray()));
    }

    [Test]
    public void TunWriteRefusals_AreCountedPerPacket_AndTheRestAreDelivered()
    {
        var (a, b) = Pair(EncapsulationKind.FlannelUdp, gso: false);
        b.Tun.FailWrite = p => p[9] == IpProtocol.Icmp;
        a.Out.Forward([FromTun(PacketFactory.Udp(), default), FromTun(PacketFactory.Ping(), default), FromTun(PacketFactory.Udp(payloadLength: 70), default)]);
        b.DrainInbound();
        Assert.That(Written(b), Has.Count.EqualTo(2));
        Assert.That(b.Drops[DropReason.IoError], Is.EqualTo(1));
        Assert.That(b.In.Delivered.Packets, Is.EqualTo(2));
        Assert.That(b.In.Received.Packets, Is.EqualTo(3));
    }

    [Test]
    public void ForwardingASuperPacket_DoesNotAllocate()
    {
        var (a, _) = Pair(EncapsulationKind.Vxlan);
        var super = SuperPackets.Tcp(false, SuperPackets.Payload(64_000));
        var header = SuperPackets.Header(super, 1398);
        var buffer = FromTun(super, header);
        var batch = new[] { buffer };
        // The fake underlay allocates to deliver; measure the pump alone against a discarding one.
        var quiet = new OutboundPump(a.Tun, a.Table, [new UnderlayBinding(new VxlanEncapsulation(1, MacA, Mtu - 22), new DiscardingUnderlay())], a.Drops);
        void Quiet()
        {
            buffer.Reset();
            buffer.Load(super);
            buffer.Offload = header;
            quiet.Forward(batch);
        }
        Allocations.AssertSteadyStateAllocatesNothing(() =>
        {
            for (int i = 0; i < 200; i++)
                Quiet();
        });
        Assert.That(a.Drops.Total, Is.Zero, a.Drops.ToString());
    }

    /// <summary>Sends nowhere and allocates nothing: every message succeeds.</summary>
    internal sealed class DiscardingUnderlay : IUnderlay
    {
        public int BatchSize => 64;
        public bool SegmentationOffload => true;
        public long GsoFallbacks => 0;
        public bool ReceiveOffload => false;
        public IoResult Send(DatagramBatch batch)
        {
            foreach (ref var m in batch.Messages)
                m.Verdict = DropReason.None;
            return IoResult.Ok;
        }
        public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
        {
            count = 0;
            return new IoResult(IoStatus.WouldBlock);
        }
        public void Cancel()
        {
        }
    }
}

using Dataplane.Devices;
using System.Buffers.Binary;
using System.Diagnostics;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

[Category("Privileged")]
public class UdpUnderlayTests
{
    private const ushort Port = 8285;

    private static UdpUnderlay Open(string ns, Ipv4Address address, ushort port, DontFragmentPolicy df = DontFragmentPolicy.Clear, int? ttl = null, bool zeroChecksum = false, int batch = 1, bool gso = false) =>
        NetworkNamespace.Run(ns, () => UdpUnderlay.Open(new UdpUnderlayOptions
        {
            LocalEndpoint = new UnderlayEndpoint(address, port),
            DontFragment = df,
            TimeToLive = ttl,
            UnsafeZeroChecksum = zeroChecksum,
            BatchSize = batch,
            SegmentationOffload = gso,
        }));

    [Test]
    public void Send_Receive_BetweenNamespaces_FillsPeer()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sa = Open(a, TunTestNet.NodeA, Port);
        using var sb = Open(b, TunTestNet.NodeB, Port);
        Assert.That(sa.LocalEndpoint, Is.EqualTo(new UnderlayEndpoint(TunTestNet.NodeA, Port)));

        var payload = TestPackets.Udp(Ipv4Address.Parse("10.244.1.2"), Ipv4Address.Parse("10.244.2.3"), 1000, 2000, "hello"u8);
        var send = new PacketBuffer(2048);
        send.Load(payload);
        send.Peer = sb.LocalEndpoint;
        Assert.That(sa.Send(send), Is.EqualTo(IoResult.Ok));

        var receive = new PacketBuffer(2048);
        var r = TunTestNet.ReceiveWithin(sb, receive, TimeSpan.FromSeconds(5));
        Assert.That(r, Is.EqualTo(IoResult.Ok));
        Assert.That(receive.Peer, Is.EqualTo(new UnderlayEndpoint(TunTestNet.NodeA, Port)), "source port is the bound port, as flannel's");
        Assert.That(receive.Offset, Is.EqualTo(PacketBuffer.DefaultHeadroom));
        Assert.That(receive.Data.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public void Receive_DatagramLargerThanTheBuffer_IsDroppedAndCounted_NeverTruncated()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sa = Open(a, TunTestNet.NodeA, Port);
        using var sb = Open(b, TunTestNet.NodeB, Port, batch: 8);
        var send = new PacketBuffer(2048) { Peer = sb.LocalEndpoint };
        send.Load(new byte[1400]);
        Assert.That(sa.Send(send).IsOk);
        send.Load(new byte[100]);
        Assert.That(sa.Send(send).IsOk);

        // Room for 1000 bytes after the headroom: the 1400-byte datagram does not fit.
        var small = new PacketBuffer(PacketBuffer.DefaultHeadroom + 1000);
        var r = TunTestNet.ReceiveWithin(sb, small, TimeSpan.FromSeconds(5));
        Assert.That(r.Status, Is.EqualTo(IoStatus.Truncated));
        Assert.That(small.Length, Is.Zero, "nothing is passed on");
        Assert.That(sb.TruncatedDatagrams, Is.EqualTo(1));

        // A batch (recvmmsg) gives the oversized one the verdict TooBig and still returns the others, in order.
        send.Load(new byte[1400]);
        Assert.That(sa.Send(send).IsOk);
        send.Load(new byte[200]);
        Assert.That(sa.Send(send).IsOk);
        Assert.That(TunTestNet.ReceiveWithin(sb, small, TimeSpan.FromSeconds(5)), Is.EqualTo(IoResult.Ok));
        Assert.That(small.Length, Is.EqualTo(100));
        var batch = new[] { new PacketBuffer(PacketBuffer.DefaultHeadroom + 1000), new PacketBuffer(PacketBuffer.DefaultHeadroom + 1000), new PacketBuffer(PacketBuffer.DefaultHeadroom + 1000) };
        int count = 0;
        for (int i = 0; i < 50 && count < 2; i++)
        {
            var result = sb.Receive(batch.AsSpan(count), wait: false, out int n);
            count += n;
            if (n == 0)
                Thread.Sleep(20);
        }
        Assert.That(count, Is.EqualTo(2));
        Assert.That(batch[0].Verdict, Is.EqualTo(DropReason.TooBig));
        Assert.That(batch[0].Length, Is.Zero);
        Assert.That(batch[1].Verdict, Is.EqualTo(DropReason.None));
        Assert.That(batch[1].Length, Is.EqualTo(200));
        Assert.That(sb.TruncatedDatagrams, Is.EqualTo(2));
    }

    [Test]
    public void GsoRefusedByTheKernel_TurnsGsoOff_CountsIt_AndEveryDatagramStillArrives()
    {
        // A real refusal by this kernel: udp_send_skb rejects a GSO send on a socket with UDP checksums off (SO_NO_CHECK)
        // with EINVAL. (Kernels before 6.x also refused with EIO when the route's device had no checksum offload, e.g.
        // `ethtool -K eth0 tx off`; current ones segment and checksum in software instead, so that no longer triggers
        // it here. xfrm on the route still gives EIO.) The fallback handles both errnos the same way.
        GsoRefused(zeroChecksum: true, (sa, batch) => sa.Send(batch));
    }

    [Test]
    public void GsoRefusedWithEio_TurnsGsoOff_CountsIt_AndEveryDatagramStillArrives()
    {
        // EIO is the refusal the issue names ("no checksum offload on the route"), but this kernel (6.18) segments and
        // checksums in software behind `ethtool -K … tx off` (tried on a veth: the GSO send succeeds), and the other
        // cause, xfrm on the route, needs ESP or AH, which this kernel is built without (CONFIG_INET_ESP/AH unset). So the kernel is told by seccomp to fail exactly the GSO sendmmsg (one message,
        // this socket) with EIO; the per-datagram fallback (one sendmmsg of six) goes through untouched.
        GsoRefused(zeroChecksum: false, (sa, batch) =>
            SeccompErrno.WithSendmmsgOfOneMessageFailing((int)sa.Handle.DangerousGetHandle(), 5 /* EIO */, () => sa.Send(batch)));
    }

    private static void GsoRefused(bool zeroChecksum, Func<UdpUnderlay, DatagramBatch, IoResult> send)
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        using var sa = Open(a, TunTestNet.NodeA, Port, zeroChecksum: zeroChecksum, batch: 8, gso: true);
        using var sb = Open(b, TunTestNet.NodeB, Port, batch: 8);
        Assert.That(sa.SegmentationOffload, Is.True, "probed at open: the kernel has UDP_SEGMENT");

        var arena = GC.AllocateArray<byte>(16 * 1024, pinned: true);
        for (int i = 0; i < arena.Length; i++)
            arena[i] = (byte)i;
        var batch = new DatagramBatch();
        for (int i = 0; i < 6; i++)
            Assert.That(batch.TryAddSegment(sb.LocalEndpoint, 0, allowGso: true, new DatagramBatch.Fragment(arena, i * 1000, 40), new DatagramBatch.Fragment(arena, 8000 + i * 1000, i == 5 ? 300 : 900)), Is.True);
        Assert.That(batch.Count, Is.EqualTo(1), "one train of six");

        Assert.That(send(sa, batch).IsOk);
        Assert.That(batch.Messages[0].Verdict, Is.EqualTo(DropReason.None), "sent after all, datagram by datagram");
        Assert.That(sa.SegmentationOffload, Is.False, "GSO turned off for this socket");
        Assert.That(sa.GsoFallbacks, Is.EqualTo(1));
        Assert.That(sa.SendErrors, Is.Zero, "a refusal of GSO is not a lost datagram");

        var got = new List<int>();
        var buffer = new PacketBuffer(4096);
        for (int i = 0; i < 6; i++)
        {
            buffer.Reset();
            Assert.That(TunTestNet.ReceiveWithin(sb, buffer, TimeSpan.FromSeconds(5)), Is.EqualTo(IoResult.Ok), $"datagram {i}");
            got.Add(buffer.Length);
            Assert.That(buffer.Data[..40].ToArray(), Is.EqualTo(arena.AsSpan(i * 1000, 40).ToArray()), "header fragment first");
        }
        Assert.That(got, Is.EqualTo(new[] { 940, 940, 940, 940, 940, 340 }));
    }

    [Test]
    public void Open_PortInUse_NamesTheAddress()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, _) = TunTestNet.TwoNodes(scope);
        using var first = Open(a, TunTestNet.NodeA, Port);
        var e = Assert.Throws<PlatformException>(() => Open(a, TunTestNet.NodeA, Port));
        Assert.That(e!.Errno, Is.EqualTo(98));
        Assert.That(e.Message, Does.Contain("198.18.0.1:8285").And.Contain("Address already in use"));
    }

    [Test]
    public void Open_AddressNotOnAnyInterface_SaysSo()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, _) = TunTestNet.TwoNodes(scope);
        var e = Assert.Throws<PlatformException>(() => Open(a, Ipv4Address.Parse("198.18.0.9"), Port));
        Assert.That(e!.Errno, Is.EqualTo(99));
        Assert.That(e.Message, Does.Contain("198.18.0.9:8285").And.Contain("not an address of any interface"));
    }

    [Test]
    public void Dispose_WakesABlockedReceive_Promptly()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var (a, _) = TunTestNet.TwoNodes(scope);
        var socket = Open(a, TunTestNet.NodeA, Port);
        var buffer = new PacketBuffer(2048);
        IoResult result = default;
        var reader = new Thread(() => result = socket.Receive(buffer)) { IsBackground = true };
        reader.Start();
        Thread.Sleep(200);
        Assert.That(reader.IsAlive, Is.True);
        var sw = Stopwatch.StartNew();
        socket.Dispose();
        Assert.That(reader.Join(TimeSpan.FromSeconds(2)), Is.True, "Dispose must wake a blocked receive");
        TestContext.Out.WriteLine($"blocked UDP receive woke {sw.Elapsed.TotalMilliseconds:F2} ms after Dispose");
        Assert.That(result.Status, Is.EqualTo(IoStatus.Closed));
    }

    /// <summary>
    /// Captures what each socket configuration puts on the wire (tx checksum offload off on the sending
    /// veth, so the kernel computes the UDP checksum in software as it would for a NIC without offload).
    /// </summary>
    [Test]
    public void OuterHeaders_AsCaptured_DfTtlTosAndChecksum()
    {
        Prerequisites.RequireNetns();
        Prerequisites.RequireTool("tcpdump");
        Prerequisites.RequireTool("ethtool");
        using var scope = new NetnsScope();
        var (a, b) = TunTestNet.TwoNodes(scope);
        NetnsScope.Exec(a, "ethtool -K eth0 tx off");
        using var receiver = Open(b, TunTestNet.NodeB, Port);
        using var clear = Open(a, TunTestNet.NodeA, 40001, DontFragmentPolicy.Clear);
        using var kernelDefault = Open(a, TunTestNet.NodeA, 40002, DontFragmentPolicy.KernelDefault);
        using var ttl = Open(a, TunTestNet.NodeA, 40003, ttl: 17);
        using var zero = Open(a, TunTestNet.NodeA, 40004, zeroChecksum: true);

        using var capture = PcapCapture.Start(b, "eth0", $"udp and dst port {Port}", count: 5);
        var packet = new PacketBuffer(2048) { Peer = receiver.LocalEndpoint };
        packet.Load(TestPackets.Udp(Ipv4Address.Parse("10.244.1.2"), Ipv4Address.Parse("10.244.2.3"), 1, 2, new byte[100]));
        Assert.That(clear.Send(packet).IsOk);
        Assert.That(kernelDefault.Send(packet).IsOk);
        Assert.That(ttl.Send(packet).IsOk);
        Assert.That(zero.Send(packet).IsOk);
        Assert.That(clear.Send(packet, tos: 0x02).IsOk, "per-packet TOS (ECT(0)) through sendmsg + IP_TOS cmsg");
        var frames = capture.Finish();
        Assert.That(frames, Has.Count.EqualTo(5), "tcpdump did not see all five datagrams");

        var bySource = frames.Select(Outer.Parse).ToList();
        foreach (var o in bySource)
        {
            TestContext.Out.WriteLine(o);
            Assert.That(o.HeaderChecksumValid, Is.True, "IPv4 header checksum");
            Assert.That(o.Payload, Is.EqualTo(packet.Data.ToArray()), "UDP payload = the bare inner packet");
        }
        var c = bySource[0];
        Assert.Multiple(() =>
        {
            Assert.That(c.SourcePort, Is.EqualTo(40001));
            Assert.That(c.DontFragment, Is.False, "IP_PMTUDISC_DONT: DF clear (as kernel VXLAN)");
            Assert.That(c.Ttl, Is.EqualTo(64), "default TTL: net.ipv4.ip_default_ttl");
            Assert.That(c.Tos, Is.Zero);
            Assert.That(c.UdpChecksum, Is.Not.Zero, "UDP checksum computed by default");
            Assert.That(c.UdpChecksumValid, Is.True);

            Assert.That(bySource[1].DontFragment, Is.True, "kernel default IP_PMTUDISC_WANT sets DF (what flannel's Go socket sends)");
            Assert.That(bySource[1].UdpChecksumValid, Is.True);
            Assert.That(bySource[2].Ttl, Is.EqualTo(17), "IP_TTL");
            Assert.That(bySource[3].UdpChecksum, Is.Zero, "SO_NO_CHECK sends checksum 0");
            Assert.That(bySource[4].Tos, Is.EqualTo(0x02), "IP_TOS control message sets this datagram's TOS, ECN bits included");
            Assert.That(bySource[4].UdpChecksumValid, Is.True);
        });
    }

    private sealed record Outer(bool DontFragment, int Ttl, int Tos, bool HeaderChecksumValid, int SourcePort, ushort UdpChecksum, bool UdpChecksumValid, byte[] Payload)
    {
        public static Outer Parse(PacketDotNet.Packet frame)
        {
            var ip = frame.Extract<PacketDotNet.IPv4Packet>();
            var udp = frame.Extract<PacketDotNet.UdpPacket>();
            return new Outer((ip.FragmentFlags & 0x2) != 0, ip.TimeToLive, ip.TypeOfService, ip.ValidIPChecksum,
                udp.SourcePort, udp.Checksum, udp.Checksum != 0 && udp.ValidUdpChecksum, udp.PayloadData);
        }
    }
}

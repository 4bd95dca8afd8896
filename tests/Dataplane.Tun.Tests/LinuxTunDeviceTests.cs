using Dataplane.Devices;
using System.Diagnostics;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;
using Dataplane.Testing;
using Dataplane.Tun.Netlink;

namespace Dataplane.Tun.Tests;

[Category("Privileged")]
public class LinuxTunDeviceTests
{
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("10.244.5.7");

    [Test]
    public void Read_PingIntoTheTun_ArrivesAtBufferOffset_AndWrittenReplyIsDelivered()
    {
        Prerequisites.RequireNetns();
        Prerequisites.RequireTool("ping");
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var tun = TunTestNet.FlannelTun(ns);
        Assert.That(tun.Name, Is.EqualTo("flannel0"), "flannel%d must make the kernel pick flannel0 in a fresh namespace");

        var ping = Task.Run(() => NetnsScope.TryExec(ns, $"ping -c 1 -W 5 {Remote}", TimeSpan.FromSeconds(15)));
        var buffer = new PacketBuffer(2048);
        Assert.That(TunTestNet.ReadMatching(tun, buffer, p => TunTestNet.IsIcmpEchoTo(p, Remote), TimeSpan.FromSeconds(5)), Is.True,
            "the echo request routed into the TUN was never read");
        Assert.That(buffer.Offset, Is.EqualTo(PacketBuffer.DefaultHeadroom), "headroom must be preserved");
        Assert.That(buffer.Data[0] >> 4, Is.EqualTo(4), "IFF_NO_PI: the packet starts at the IPv4 header");
        Assert.That(Ipv4Address.Read(buffer.Data[12..]), Is.EqualTo(TunTestNet.TunAddress), "source is the TUN's /32");

        var reply = new PacketBuffer(2048);
        reply.Load(TestPackets.EchoReply(buffer.Data));
        Assert.That(tun.Write(reply), Is.EqualTo(IoResult.Ok));
        var result = ping.Result;
        Assert.That(result.ExitCode, Is.Zero, $"ping did not get the reply written into the TUN: {result.StdOut}");
        Assert.That(result.StdOut, Does.Contain("1 received"));
    }

    [Test]
    public void BatchRead_AfterTheQueueWasFoundEmpty_HandsOverTheFirstPacketAlone_ThenTheRestInOneBatch()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        // No IPv6 chatter (router solicitations) in the queue: the counts below are exact.
        NetnsScope.Exec(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
        using var tun = TunTestNet.FlannelTun(ns, new TunOptions { BatchSize = 16 });
        var buffers = Enumerable.Range(0, 16).Select(_ => new PacketBuffer(2048)).ToArray();
        int Read()
        {
            foreach (var b in buffers)
                b.Reset();
            var r = tun.Read(buffers, wait: false, out int n);
            Assert.That(r.Status, Is.AnyOf(IoStatus.Ok, IoStatus.WouldBlock), r.ToString());
            return n;
        }
        Assert.That(Read(), Is.Zero, "nothing sent yet: the queue is found empty");

        NetworkNamespace.Run(ns, () =>
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
                System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            for (int i = 0; i < 5; i++)
                socket.SendTo(new byte[32], new System.Net.IPEndPoint(System.Net.IPAddress.Parse(Remote.ToString()), 9));
            return 0;
        });
        Thread.Sleep(100); // all five queued in the TUN

        // Request/response traffic: the first packet after idle must not wait for a read that would find nothing.
        Assert.That(Read(), Is.EqualTo(1), "the first packet after an empty queue goes out alone");
        Assert.That(Read(), Is.EqualTo(4), "what is queued behind it comes as one batch");
        Assert.That(Read(), Is.Zero);
    }

    [Test]
    public void Persistent_SurvivesClose_WithAddressAndRoute_AndReattachesByName()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var nl = NetworkNamespace.Run(ns, () => new RtNetlink());
        int index;
        using (var tun = TunTestNet.FlannelTun(ns, new TunOptions { Name = "flannel0", Persistent = true }))
        {
            Assert.That(tun.IsPersistent, Is.True);
            index = nl.GetLink("flannel0").Index;
        }

        // Daemon "down": the device, its address and the Network route stay, so pod traffic is not
        // routed out of the default route; with no reader the kernel drops it.
        var link = nl.TryGetLink("flannel0");
        Assert.That(link, Is.Not.Null, "a persistent TUN must survive its fd being closed");
        Assert.That(nl.ListAddresses(index).Select(a => a.Address), Does.Contain(TunTestNet.TunAddress));
        Assert.That(nl.ListRoutes().Any(r => r.Destination == TunTestNet.Network && r.LinkIndex == index), Is.True,
            $"Network route gone while detached: {string.Join("; ", nl.ListRoutes())}");
        var send = NetnsScope.TryExec(ns, $"ping -c 1 -W 1 {Remote}", TimeSpan.FromSeconds(10));
        Assert.That(send.ExitCode, Is.Not.Zero, "nothing can answer while detached");

        using (var again = NetworkNamespace.Run(ns, () => LinuxTunDevice.Open(new TunOptions { Name = "flannel0" })))
        {
            Assert.That(again.Name, Is.EqualTo("flannel0"));
            Assert.That(again.IsPersistent, Is.True);
            Assert.That(nl.GetLink("flannel0").Index, Is.EqualTo(index), "re-attached, not recreated");
            again.SetPersistent(false);
        }
        Assert.That(nl.TryGetLink("flannel0"), Is.Null, "clearing persistence then closing must delete the device");
        Assert.That(nl.ListRoutes().Any(r => r.Destination == TunTestNet.Network), Is.False, "its route goes with it");
    }

    [Test]
    public void Open_NameAttachedByAnotherReader_FailsWithEbusyNamingTheDevice()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var first = NetworkNamespace.Run(ns, () => LinuxTunDevice.Open(new TunOptions { Name = "flannel0" }));
        var e = Assert.Throws<PlatformException>(() => NetworkNamespace.Run(ns, () => LinuxTunDevice.Open(new TunOptions { Name = "flannel0" })));
        Assert.That(e!.Errno, Is.EqualTo(16));
        Assert.That(e.Message, Does.Contain("flannel0").And.Contain("busy"));
    }

    [Test]
    public void Open_NameOfANonTunDevice_FailsClearly()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        // "lo" exists and is not a TUN.
        var e = Assert.Throws<PlatformException>(() => NetworkNamespace.Run(ns, () => LinuxTunDevice.Open(new TunOptions { Name = "lo" })));
        Assert.That(e!.Message, Does.Contain("create TUN lo"));
    }

    [TestCase("")]
    [TestCase("a-name-that-is-too-long")]
    [TestCase("bad/name")]
    public void Open_InvalidName_IsAnArgumentError(string name) =>
        Assert.Throws<ArgumentException>(() => LinuxTunDevice.Open(new TunOptions { Name = name }));

    [Test]
    public void Dispose_WakesABlockedRead_Promptly()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        // Left down: an up TUN gets IPv6 router solicitations and MLD reports, which would end the read.
        var tun = NetworkNamespace.Run(ns, () => LinuxTunDevice.Open());
        var buffer = new PacketBuffer(2048);
        IoResult result = default;
        var started = new ManualResetEventSlim();
        var sw = new Stopwatch();
        TimeSpan woke = default;
        var reader = new Thread(() =>
        {
            started.Set();
            result = tun.Read(buffer);
            woke = sw.Elapsed;
        }) { IsBackground = true };
        reader.Start();
        started.Wait();
        Thread.Sleep(200); // let it block in poll
        Assert.That(reader.IsAlive, Is.True, "nothing was sent, the read must be blocked");

        sw.Start();
        tun.Dispose();
        bool joined = reader.Join(TimeSpan.FromSeconds(2));
        // The poll wakes at once; when the reader then drops its SafeHandle reference it performs the
        // deferred close(), and tun_detach waits for an RCU grace period (synchronize_net): that is most
        // of the time measured here, and it is paid once per shutdown by whichever thread closes last.
        TestContext.Out.WriteLine($"blocked TUN read returned {woke.TotalMilliseconds:F2} ms after Dispose; thread done after {sw.Elapsed.TotalMilliseconds:F2} ms");
        Assert.That(joined, Is.True, "Dispose must wake a blocked TUN read (target: well under 100 ms)");
        Assert.That(result.Status, Is.EqualTo(IoStatus.Closed));
        Assert.That(tun.Read(buffer).Status, Is.EqualTo(IoStatus.Closed), "reads after Dispose report Closed, not an exception");
        Assert.That(tun.Read(new[] { buffer }.AsSpan(), wait: true, out int count).Status, Is.EqualTo(IoStatus.Closed), "the batch read too");
        Assert.That(count, Is.Zero);
    }

    [Test]
    public void Write_ToADownDevice_IsACountedError_NotAnException()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var tun = NetworkNamespace.Run(ns, () => LinuxTunDevice.Open()); // never brought up
        var packet = new PacketBuffer(2048);
        packet.Load(TestPackets.Udp(Remote, TunTestNet.TunAddress, 1, 2, new byte[10]));

        var single = tun.Write(packet);
        Assert.That(single.Status, Is.EqualTo(IoStatus.Error));
        var second = new PacketBuffer(2048);
        second.Load(packet.Data);
        packet.Verdict = DropReason.None;
        var batch = new[] { packet, second };
        Assert.That(tun.Write(batch.AsSpan()), Is.EqualTo(IoResult.Ok), "the batch call itself succeeds");
        Assert.That(batch.Select(p => p.Verdict), Is.All.EqualTo(DropReason.IoError), "each refused packet carries its verdict (EIO: the TUN is down)");
        Assert.That(tun.WriteErrors, Is.EqualTo(3));
    }
}

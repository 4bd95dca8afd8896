using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Control.Tests.EndToEnd;

/// <summary>
/// A measurement, not a benchmark: daemon CPU per packet each way through the per-packet data path (one read and one
/// send syscall per packet), in the two-namespace setup. The pump thread's time includes the kernel work done in its
/// syscalls (TUN read, UDP send through the veth into the peer's socket; UDP receive, TUN write into the node's stack).
/// Asserts only loose sanity; the numbers go to the test output.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class PerPacketCostTests
{
    private const int Packets = 100_000;
    private const int Window = 256;
    private const ushort ListenPort = 7777;

    [Test]
    public void Daemon_cpu_per_packet_each_way()
    {
        using var world = new NodeAndPeer();
        var peer = world.PeerFlannelSocket();
        peer.ReceiveBufferSize = 4 << 20;
        // A thread per direction, so each direction's CPU can be read from its own thread.
        var daemon = world.StartDaemon("--io", "per-packet-threads");
        var sender = world.UdpSocket(world.Node);
        var listener = world.UdpSocket(world.Node, "0.0.0.0", ListenPort);
        listener.ReceiveBufferSize = 4 << 20;

        int pid = daemon.Pid;
        Assert.That(File.ReadAllText($"/proc/{pid}/comm").Trim(), Is.Not.EqualTo("ip"), "ip netns exec should exec the daemon in place");
        var tunRx = DaemonCpu.ThreadId(pid, "dp-tun-rx");
        var udpRx = DaemonCpu.ThreadId(pid, "dp-udp-rx-0");
        Assert.That(tunRx, Is.Not.Null, "no dp-tun-rx thread");
        Assert.That(udpRx, Is.Not.Null, "no dp-udp-rx-0 thread");

        var toPeer = new IPEndPoint(NodeAndPeer.PeerPod, 9999);
        var outPayload = OverlayPackets.Filler(64);
        var toNode = new IPEndPoint(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port);
        var inDatagram = OverlayPackets.Udp(NodeAndPeer.PeerPod, world.OwnTunAddress, 5000, ListenPort, OverlayPackets.Filler(64));

        // Warm-up: tiered JIT promotes the pump loops after their first calls.
        Drive(sender, toPeer, outPayload, peer, 2000);
        Drive(peer, toNode, inDatagram, listener, 2000);
        Thread.Sleep(300);

        var outbound = Measure("outbound (TUN → UDP)", pid, tunRx!.Value, () => Drive(sender, toPeer, outPayload, peer, Packets));
        var inbound = Measure("inbound (UDP → TUN)", pid, udpRx!.Value, () => Drive(peer, toNode, inDatagram, listener, Packets));

        daemon.Signal("TERM");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(15)), Is.True, daemon.Log);
        var summary = ShutdownSummary.From(daemon.Log);
        TestContext.Out.WriteLine($"daemon totals: sent {summary.Sent}, delivered {summary.Delivered}, drops: {string.Join(' ', summary.Drops.Select(kv => $"{kv.Key}={kv.Value}"))}");

        foreach (var m in new[] { outbound, inbound })
        {
            Assert.That(m.Received, Is.GreaterThanOrEqualTo(Packets * 95 / 100), $"{m.Name}: too many packets lost to measure");
            Assert.That(m.ThreadMicrosPerPacket, Is.GreaterThan(0).And.LessThan(200), m.Name);
        }
    }

    private sealed record Measurement(string Name, int Received, double ThreadMicrosPerPacket, double ProcessMicrosPerPacket);

    private static Measurement Measure(string name, int pid, int tid, Func<(int Sent, int Received)> drive)
    {
        long thread0 = DaemonCpu.ThreadNs(pid, tid);
        double process0 = DaemonCpu.ProcessMicroseconds(pid);
        var split0 = DaemonCpu.ThreadUserSystem(pid, tid);
        var sw = Stopwatch.StartNew();
        var (sent, received) = drive();
        var wall = sw.Elapsed;
        double threadUs = (DaemonCpu.ThreadNs(pid, tid) - thread0) / 1000.0;
        double processUs = DaemonCpu.ProcessMicroseconds(pid) - process0;
        var split1 = DaemonCpu.ThreadUserSystem(pid, tid);
        double user = split1.User - split0.User, system = split1.System - split0.System;
        var m = new Measurement(name, received, threadUs / Math.Max(received, 1), processUs / Math.Max(received, 1));
        TestContext.Out.WriteLine(
            $"{name}: {sent} sent, {received} through in {wall.TotalMilliseconds:F0} ms ({received / wall.TotalSeconds:F0} pps, window {Window}); " +
            $"pump thread {m.ThreadMicrosPerPacket:F2} µs/packet (schedstat; {100 * user / Math.Max(user + system, 1):F0}% user, {100 * system / Math.Max(user + system, 1):F0}% kernel), " +
            $"whole daemon {m.ProcessMicrosPerPacket:F2} µs/packet (utime+stime, 10 ms ticks)");
        return m;
    }

    /// <summary>
    /// Sends <paramref name="count"/> copies of <paramref name="payload"/> with at most <see cref="Window"/> in flight,
    /// counting arrivals on <paramref name="receiver"/>. Bounded: 30 s overall; after 200 ms without an arrival the
    /// packets in flight are written off as lost.
    /// </summary>
    private static (int Sent, int Received) Drive(Socket sender, EndPoint to, byte[] payload, Socket receiver, int count)
    {
        var buffer = new byte[4096];
        int sent = 0, received = 0, lost = 0;
        var sw = Stopwatch.StartNew();
        while (received + lost < count && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            while (sent < count && sent - received - lost < Window)
            {
                sender.SendTo(payload, to);
                sent++;
            }
            if (!receiver.Poll(TimeSpan.FromMilliseconds(200), SelectMode.SelectRead))
            {
                lost = sent - received;
                continue;
            }
            do
            {
                receiver.Receive(buffer);
                received++;
            }
            while (receiver.Available > 0);
        }
        return (sent, received);
    }
}

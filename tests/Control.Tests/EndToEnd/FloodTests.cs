using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Issue 13 §4: a ~100 kpps flood of flannel datagrams from unleased, random underlay sources (bounded in time) must
/// not starve overlay traffic: a TCP transfer through the overlay keeps at least half its unflooded rate. Both ends run
/// our daemon (node, and peer on its static lease); TCP runs between their TUN addresses (<c>.0</c> of each subnet), the
/// flood comes from the peer namespace through a raw socket with spoofed sources in 198.18.0.100–249.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class FloodTests
{
    private const int FloodPps = 100_000;

    [Test]
    public void A_flood_from_unleased_sources_leaves_overlay_tcp_at_least_half_its_rate()
    {
        Prerequisites.RequireTool("iperf3");
        using var world = new NodeAndPeer();
        var node = world.StartDaemon();
        var peerEnv = Path.Combine(world.TempPath, "peer-subnet.env");
        var peer = world.Own(new NamespacedDaemon(world.Peer, ["--lease-dir", world.LeaseDir, "--iface", "eth0", "--subnet-file", peerEnv]));
        Assert.That(peer.WaitForLog("Running with data path", NodeAndPeer.StartTimeout), Is.True, "peer daemon:\n" + peer.Log);
        Assert.That(peer.WaitForLog("route add", TimeSpan.FromSeconds(10)), Is.True, "peer learnt no route to the node:\n" + peer.Log);
        const string peerTun = "10.244.2.0";

        double baseline = TcpBitsPerSecond(world, peerTun);
        double flooded;
        long floodSent;
        double floodSeconds;
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20))) // bounds the flood whatever happens
        {
            var sw = Stopwatch.StartNew();
            var flood = Task.Factory.StartNew(() => Flood(world, stop.Token), TaskCreationOptions.LongRunning);
            Thread.Sleep(300); // the flood is on before the transfer starts
            try
            {
                flooded = TcpBitsPerSecond(world, peerTun);
            }
            finally
            {
                stop.Cancel();
                floodSent = flood.Result;
                floodSeconds = sw.Elapsed.TotalSeconds;
            }
        }
        node.Signal("TERM");
        Assert.That(node.WaitForExit(TimeSpan.FromSeconds(15)), Is.True, node.Log);
        var summary = ShutdownSummary.From(node.Log);
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TCP through the overlay: {baseline / 1e6:F0} Mbit/s unflooded, {flooded / 1e6:F0} Mbit/s under a flood of {floodSent / floodSeconds:F0} pps " +
            $"({flooded / baseline:P0}); node dropped UnknownSource={summary.Dropped("UnknownSource")}"));
        Assert.That(floodSent / floodSeconds, Is.GreaterThan(FloodPps / 2.0), "the generator did not reach half the intended flood rate: the test shows nothing");
        Assert.That(summary.Dropped("UnknownSource"), Is.GreaterThan(0), "the flood reached the daemon");
        Assert.That(flooded, Is.GreaterThanOrEqualTo(baseline / 2), "the flood starved overlay TCP");
    }

    /// <summary>A 3 s iperf3 TCP transfer node → peer between the TUN addresses (through both daemons).</summary>
    private static double TcpBitsPerSecond(NodeAndPeer world, string peerTun)
    {
        var server = Sh.Run("ip", ["netns", "exec", world.Peer, "iperf3", "-s", "-D", "-1", "-B", peerTun], TimeSpan.FromSeconds(10));
        Assert.That(server.ExitCode, Is.Zero, server.StdErr);
        Thread.Sleep(200);
        var client = Sh.Run("ip", ["netns", "exec", world.Node, "iperf3", "-c", peerTun, "-t", "3", "-J"], TimeSpan.FromSeconds(30));
        Assert.That(client.ExitCode, Is.Zero, client.StdErr + client.StdOut);
        return JsonNode.Parse(client.StdOut)!["end"]!["sum_received"]!["bits_per_second"]!.GetValue<double>();
    }

    /// <summary>
    /// Sends well-formed flannel datagrams (UDP 8285 → node:8285 carrying an inner IPv4/UDP packet for the node's subnet)
    /// from 150 spoofed underlay sources, paced to <see cref="FloodPps"/>, until cancelled. Returns datagrams sent.
    /// </summary>
    private static long Flood(NodeAndPeer world, CancellationToken ct)
    {
        var target = IPAddress.Parse(NodeAndPeer.NodeIp);
        var inner = OverlayPackets.Udp(IPAddress.Parse("10.244.2.7"), world.OwnTunAddress, 5000, 9, OverlayPackets.Filler(32));
        var packets = Enumerable.Range(100, 150)
            .Select(i => OverlayPackets.Udp(IPAddress.Parse($"198.18.0.{i}"), target, NodeAndPeer.Port, NodeAndPeer.Port, inner))
            .ToArray();
        // IPPROTO_RAW implies IP_HDRINCL (raw(7)): the kernel sends our header, spoofed source included.
        using var raw = Dataplane.Tun.NetworkNamespace.Run(world.Peer, () => new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw));
        var to = new IPEndPoint(target, 0);
        long attempted = 0, sent = 0;
        var clock = Stopwatch.StartNew();
        while (!ct.IsCancellationRequested)
        {
            long due = (long)(clock.Elapsed.TotalSeconds * FloodPps);
            if (attempted >= due)
            {
                Thread.Sleep(1);
                continue;
            }
            // At most one millisecond's worth per round, so a stall never turns into a burst far above the rate.
            for (long n = Math.Min(due - attempted, FloodPps / 1000); n > 0; n--)
            {
                try
                {
                    raw.SendTo(packets[attempted++ % packets.Length], to);
                    sent++;
                }
                catch (SocketException)
                {
                    // ENOBUFS from a full queue: not counted as sent (the rate check below is on what left)
                }
            }
        }
        return sent;
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Issue 13 §4: SIGTERM under bidirectional load, 20 times in a row in every <c>--io</c> mode: exit 0 every time and no
/// "did not stop in time". The namespaces and the load stay up for the whole mode; only the daemon is restarted, which
/// keeps 4 × 20 stops within about a minute on a busy 2-core machine.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class SigtermUnderLoadTests
{
    private const int Repetitions = 20;

    /// <summary>Each direction sends bursts of this many 1400 B datagrams with a ~1 ms pause between bursts: as much as
    /// one sending thread per direction gets through on this machine while the daemon restarts beside it (the measured
    /// per-daemon rates are printed), with a pause so the machine's other users keep some CPU.</summary>
    private const int Burst = 256;

    [TestCase("batch")]
    [TestCase("batch-threads")]
    [TestCase("per-packet")]
    [TestCase("per-packet-threads")]
    public void Sigterm_under_bidirectional_load_exits_0_twenty_times_in_a_row(string io)
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon("--io", io);
        var ownTun = world.OwnTunAddress;

        // Outbound: a node-side sender to a pod behind the peer (TUN → daemon → UDP to the peer's 8285).
        // Inbound: the "peer" sends flannel datagrams (raw IPv4 in UDP) to a sink on our TUN address (UDP → daemon → TUN).
        // Neither receiver is read: the kernel drops what overflows; only the daemon's pumps matter here.
        var outbound = world.UdpSocket(world.Node);
        world.UdpSocket(world.Node, "0.0.0.0", 9999); // the sink: no ICMP port-unreachable storm back through the overlay
        var peer = world.PeerFlannelSocket();
        var inner = OverlayPackets.Udp(IPAddress.Parse("10.244.2.5"), ownTun, 5000, 9999, OverlayPackets.Filler(1372));
        var payload = OverlayPackets.Filler(1372);
        var nodeEndpoint = new IPEndPoint(IPAddress.Parse(NodeAndPeer.NodeIp), NodeAndPeer.Port);
        var podEndpoint = new IPEndPoint(NodeAndPeer.PeerPod, 9999);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90)); // bounds the load even if the test hangs
        long sentOut = 0, sentIn = 0;
        var load = new[]
        {
            Task.Factory.StartNew(() => Blast(outbound, payload, podEndpoint, ref sentOut, stop.Token), TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => Blast(peer, inner, nodeEndpoint, ref sentIn, stop.Token), TaskCreationOptions.LongRunning),
        };
        var total = Stopwatch.StartNew();
        var stops = new List<double>();
        var rates = new List<(double Out, double In)>();
        try
        {
            for (int i = 0; i < Repetitions; i++)
            {
                var life = Stopwatch.StartNew(); // from "ready" (approximately) to exit: the rate denominators
                if (i > 0)
                {
                    daemon = world.StartDaemon("--io", io);
                    life.Restart();
                }
                // Let traffic reach the pumps in both directions before the signal (checked below through the summary).
                Thread.Sleep(100);
                var sw = Stopwatch.StartNew();
                daemon.Signal("TERM");
                bool exited = daemon.WaitForExit(TimeSpan.FromSeconds(15));
                stops.Add(sw.Elapsed.TotalMilliseconds);
                Assert.That(exited, Is.True, $"{io} #{i + 1}: no exit within 15 s:\n{daemon.Log}");
                Assert.That(daemon.Process.ExitCode, Is.Zero, $"{io} #{i + 1}:\n{daemon.Log}");
                Assert.That(daemon.Log, Does.Not.Contain("did not stop in time"), $"{io} #{i + 1}:\n{daemon.Log}");
                var summary = ShutdownSummary.From(daemon.Log);
                rates.Add((summary.Sent / life.Elapsed.TotalSeconds, summary.Delivered / life.Elapsed.TotalSeconds));
                Assert.That(summary.Sent, Is.GreaterThan(0), $"{io} #{i + 1}: no outbound load reached the daemon:\n{daemon.Log}");
                Assert.That(summary.Delivered, Is.GreaterThan(0), $"{io} #{i + 1}: no inbound load reached the daemon:\n{daemon.Log}");
            }
        }
        finally
        {
            stop.Cancel();
            Task.WaitAll(load, TimeSpan.FromSeconds(5));
        }
        stops.Sort();
        TestContext.Out.WriteLine($"{io}: {Repetitions} stops in {total.Elapsed.TotalSeconds:F1} s; SIGTERM → exit p50 {stops[stops.Count / 2]:F0} ms, max {stops[^1]:F0} ms; " +
            $"load sent {Interlocked.Read(ref sentOut)} datagrams out, {Interlocked.Read(ref sentIn)} in; per daemon life, min/median " +
            $"forwarded out {rates.Min(r => r.Out):F0}/{rates.Select(r => r.Out).Order().ElementAt(rates.Count / 2):F0} pps, " +
            $"delivered in {rates.Min(r => r.In):F0}/{rates.Select(r => r.In).Order().ElementAt(rates.Count / 2):F0} pps");
    }

    /// <summary>Sends bursts until cancelled; send errors while the daemon is down (no route, guard) are expected.</summary>
    private static void Blast(Socket socket, byte[] datagram, IPEndPoint to, ref long sent, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            for (int i = 0; i < Burst; i++)
            {
                try
                {
                    socket.SendTo(datagram, to);
                    Interlocked.Increment(ref sent);
                }
                catch (SocketException)
                {
                    break; // the TUN is gone between two daemons: the guard route answers EHOSTUNREACH
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
            }
            Thread.Sleep(1);
        }
    }
}

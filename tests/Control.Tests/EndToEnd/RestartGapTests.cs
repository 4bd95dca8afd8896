using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Restart safety: while the daemon is down (SIGKILL: no cleanup at all) pod traffic for Network must not leave through
/// the default route unencapsulated. The node has a default route via the peer and tcpdump watches the peer's side of
/// the wire for any packet whose IP destination is a pod address.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class RestartGapTests
{
    private static readonly IPEndPoint PodEndpoint = new(NodeAndPeer.PeerPod, 9999);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Test]
    public void After_sigkill_the_guard_route_fails_pod_traffic_fast_and_nothing_leaks_then_a_restart_restores_the_flow()
    {
        using var world = new NodeAndPeer();
        NetnsScope.Exec(world.Node, $"ip route add default via {NodeAndPeer.PeerIp}");
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon();
        var subnet = world.OwnSubnet;
        var sender = world.UdpSocket(world.Node);
        AssertFlows(world, sender, peer, "before the kill");

        using var capture = new PacketCapture(world.Peer, "eth0", $"ip dst host {NodeAndPeer.PeerPod}");
        KillAndWaitForTunGone(world, daemon);
        Assert.That(NodeAndPeer.HasGuardRoute(world.Node), Is.True, "the guard route survives SIGKILL");

        var errors = new List<SocketError>();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++)
        {
            try
            {
                sender.SendTo("leak?"u8, PodEndpoint);
            }
            catch (SocketException e)
            {
                errors.Add(e.SocketErrorCode);
            }
        }
        TestContext.Out.WriteLine($"3 sends during the gap: {string.Join(", ", errors)} in {sw.Elapsed.TotalMilliseconds:F1} ms");
        // An 'unreachable' route makes the kernel's FIB lookup return EHOSTUNREACH (fib_props[RTN_UNREACHABLE]),
        // "No route to host": ENETUNREACH is only for no matching route at all.
        Assert.That(errors, Is.EqualTo(Enumerable.Repeat(SocketError.HostUnreachable, 3)), "sendto fails at once, locally");
        Thread.Sleep(300);
        var leaked = capture.Stop();
        Assert.That(leaked, Is.Empty, "unencapsulated pod traffic left through the default route");

        var restarted = world.StartDaemon();
        Assert.That(world.OwnSubnet, Is.EqualTo(subnet), "same lease after the restart");
        Assert.That(restarted.Log, Does.Contain($"subnet {subnet}"));
        Assert.That(NodeAndPeer.HasTunRoute(world.Node), Is.True);
        AssertFlows(world, sender, peer, "after the restart");
    }

    [Test]
    public void Negative_control_without_the_guard_route_sigkill_leaks_pod_traffic_out_of_the_default_route()
    {
        using var world = new NodeAndPeer();
        NetnsScope.Exec(world.Node, $"ip route add default via {NodeAndPeer.PeerIp}");
        var peer = world.PeerFlannelSocket();
        var daemon = world.StartDaemon("--no-guard-route");
        var sender = world.UdpSocket(world.Node);
        AssertFlows(world, sender, peer, "before the kill");

        using var capture = new PacketCapture(world.Peer, "eth0", $"ip dst host {NodeAndPeer.PeerPod}");
        KillAndWaitForTunGone(world, daemon);
        for (int i = 0; i < 3; i++)
            sender.SendTo("leak!"u8, PodEndpoint); // succeeds: the default route takes it
        Thread.Sleep(300);
        var leaked = capture.Stop();
        TestContext.Out.WriteLine("captured on the peer's wire: " + string.Join(" | ", leaked));
        Assert.That(leaked, Has.Count.GreaterThanOrEqualTo(1), "without the guard the capture must see the leak (proves the other test can fail)");
        Assert.That(leaked[0], Does.Contain($"> {NodeAndPeer.PeerPod}.9999"));
    }

    private static void KillAndWaitForTunGone(NodeAndPeer world, NamespacedDaemon daemon)
    {
        daemon.Signal("KILL");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(10)), Is.True);
        var gone = NodeAndPeer.Poll(() => !NodeAndPeer.LinkExists(world.Node, "flannel0"), TimeSpan.FromSeconds(5));
        Assert.That(gone, Is.Not.Null, "flannel0 survived the daemon");
        Assert.That(NodeAndPeer.HasTunRoute(world.Node), Is.False, "the TUN took its route with it");
    }

    private static void AssertFlows(NodeAndPeer world, Socket sender, Socket peer, string when)
    {
        var marker = System.Text.Encoding.ASCII.GetBytes($"flow {when}");
        sender.SendTo(marker, PodEndpoint);
        var got = NodeAndPeer.Receive(peer, Wait);
        Assert.That(got, Is.Not.Null, $"no traffic reached the peer {when}");
        var ip = OverlayPackets.Parse(got!.Value.Data);
        Assert.That(ip.SourceAddress, Is.EqualTo(world.OwnTunAddress), when);
        Assert.That(((PacketDotNet.UdpPacket)ip.PayloadPacket).PayloadData, Is.EqualTo(marker), when);
    }
}

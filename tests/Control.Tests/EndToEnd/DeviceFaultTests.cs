using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// Issue 13 §4: someone undoes the overlay device's kernel state under a running daemon (link down, address removed,
/// guard route deleted, the Network route contested in a loop). The kernel flushes the Network route with a link going
/// down or its last address removed without an RTM_DELROUTE, so before the watchdog watched links and addresses, pod
/// traffic fell into the guard route forever.
/// </summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class DeviceFaultTests
{
    /// <summary>The target is one second; the tests fail only at this generous multiple (busy 2-core machine).</summary>
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(5);

    [Test]
    public void Tun_set_down_is_brought_back_up_with_its_route_and_pod_traffic_flows_again()
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();
        var peer = world.PeerFlannelSocket();
        Assert.That(ProbeReachesPeer(world, peer), Is.True, "overlay did not carry a probe before the fault:\n" + daemon.Log);

        NetnsScope.Exec(world.Node, "ip link set flannel0 down");
        var back = NodeAndPeer.Poll(() => DeviceIntact(world), Generous);
        Report("link down", back, world);
        Assert.That(back, Is.Not.Null, $"flannel0 not restored within {Generous.TotalSeconds} s; state: {Describe(world)}\n{daemon.Log}");
        Assert.That(ProbeReachesPeer(world, peer), Is.True, "pod traffic does not flow after the repair:\n" + daemon.Log);
        Assert.That(daemon.HasLog("restored: link up"), Is.True, daemon.Log);
        Assert.That(daemon.Process.HasExited, Is.False, daemon.Log);
    }

    [Test]
    public void Tun_address_removed_is_put_back_with_its_route_and_pod_traffic_flows_again()
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();
        var peer = world.PeerFlannelSocket();
        Assert.That(ProbeReachesPeer(world, peer), Is.True, "overlay did not carry a probe before the fault:\n" + daemon.Log);

        NetnsScope.Exec(world.Node, $"ip addr del {world.OwnTunAddress}/32 dev flannel0");
        var back = NodeAndPeer.Poll(() => DeviceIntact(world), Generous);
        Report("address removed", back, world);
        Assert.That(back, Is.Not.Null, $"flannel0 not restored within {Generous.TotalSeconds} s; state: {Describe(world)}\n{daemon.Log}");
        Assert.That(ProbeReachesPeer(world, peer), Is.True, "pod traffic does not flow after the repair:\n" + daemon.Log);
        Assert.That(daemon.HasLog($"restored: address {world.OwnTunAddress}/32"), Is.True, daemon.Log);
    }

    [Test]
    public void Deleted_guard_route_is_restored()
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();

        NetnsScope.Exec(world.Node, $"ip route del unreachable {NodeAndPeer.Network} metric 1000");
        var back = NodeAndPeer.Poll(() => NodeAndPeer.HasGuardRoute(world.Node), Generous);
        Report("guard deleted", back, world);
        Assert.That(back, Is.Not.Null, $"guard route not restored within {Generous.TotalSeconds} s; state: {Describe(world)}\n{daemon.Log}");
        Assert.That(daemon.WaitForLog("restored: guard route", TimeSpan.FromSeconds(2)), Is.True, daemon.Log);
    }

    [Test]
    public void An_agent_re_replacing_the_network_route_is_backed_off_and_reported_not_fought()
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();

        // ~3 s of `ip route replace Network dev eth0` every ~10 ms, bounded in count (1000) and time (3 s by the loop's
        // own clock, 30 s by the process timeout); the assertions below scale with how long it really ran.
        var sw = Stopwatch.StartNew();
        var script = "i=0; t0=$(date +%s%N); "
            + "while [ $i -lt 1000 ] && [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ]; do "
            + $"ip route replace {NodeAndPeer.Network} dev eth0 || exit 1; i=$((i+1)); sleep 0.01; done; echo $i";
        var result = Sh.Run("ip", ["netns", "exec", world.Node, "sh", "-c", script], TimeSpan.FromSeconds(30));
        var fight = sw.Elapsed;
        Assert.That(result.ExitCode, Is.EqualTo(0), "the replace loop failed: " + result.StdErr);
        TestContext.Out.WriteLine($"replace loop: {result.StdOut.Trim()} replaces in {fight.TotalMilliseconds:F0} ms");

        // After the loop the route comes back within one back-off step (doubling from 250 ms: at most the elapsed fight).
        var back = NodeAndPeer.Poll(() => NodeAndPeer.HasTunRoute(world.Node), fight + Generous);
        Report("after the replace loop", back, world);
        Assert.That(back, Is.Not.Null, $"route not restored after the loop; state: {Describe(world)}\n{daemon.Log}");

        var lines = daemon.Log.Split('\n');
        int restores = lines.Count(l => l.Contains("restored: route", StringComparison.Ordinal));
        // Restores at 0, 0.25, 0.75, 1.75, 3.75, 7.75 … s from the first takeover: log2(fight / 0.25 s + 1) + 1, plus one.
        int bound = (int)Math.Ceiling(Math.Log2(fight.TotalSeconds / 0.25 + 1)) + 2;
        TestContext.Out.WriteLine($"restores: {restores} (bound {bound}); warnings naming eth0: {lines.Count(l => l.Contains("dev eth0", StringComparison.Ordinal))}");
        Assert.That(restores, Is.InRange(1, bound), daemon.Log);
        Assert.That(lines.Count(l => l.Contains("taken over by dev eth0", StringComparison.Ordinal)), Is.EqualTo(1), "one warning naming the other device:\n" + daemon.Log);
        Assert.That(daemon.Process.HasExited, Is.False, daemon.Log);
    }

    /// <summary>flannel0 up, its <c>.0/32</c> address on it, the Network route through it and the guard in place.</summary>
    private static bool DeviceIntact(NodeAndPeer world) =>
        NodeAndPeer.IpJson(world.Node, "link show dev flannel0")[0].GetProperty("flags").EnumerateArray().Any(f => f.GetString() == "UP")
        && NetnsScope.Exec(world.Node, "ip -4 -o addr show dev flannel0").Contains($"inet {world.OwnTunAddress}/32", StringComparison.Ordinal)
        && NodeAndPeer.HasTunRoute(world.Node)
        && NodeAndPeer.HasGuardRoute(world.Node);

    private static string Describe(NodeAndPeer world) =>
        NetnsScope.TryExec(world.Node, "ip -o link show dev flannel0").StdOut.Trim() + " | "
        + NetnsScope.TryExec(world.Node, "ip -4 -o addr show dev flannel0").StdOut.Trim() + " | routes: "
        + string.Join(", ", NodeAndPeer.NetworkRoutes(world.Node));

    private static void Report(string what, TimeSpan? took, NodeAndPeer world) =>
        TestContext.Out.WriteLine($"{what}: restored after {took?.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture) ?? "never"} ms (target 1000); state: {Describe(world)}");

    /// <summary>
    /// Pod traffic through the overlay: a datagram from the node to a pod behind the peer arrives at the peer's flannel
    /// socket, encapsulated. A few tries, each bounded (the first may still be in flight when the route comes back).
    /// </summary>
    private static bool ProbeReachesPeer(NodeAndPeer world, System.Net.Sockets.Socket peer)
    {
        var sender = world.UdpSocket(world.Node); // closed with the world
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var marker = Encoding.ASCII.GetBytes($"probe-{Guid.NewGuid():N}");
            sender.SendTo(marker, new IPEndPoint(NodeAndPeer.PeerPod, 9999));
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromMilliseconds(500))
            {
                if (NodeAndPeer.Receive(peer, TimeSpan.FromMilliseconds(100)) is { } got
                    && got.Data.AsSpan().IndexOf(marker) >= 0)
                    return true;
            }
        }
        return false;
    }
}

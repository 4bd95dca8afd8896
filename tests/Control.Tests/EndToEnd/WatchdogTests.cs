using System.Diagnostics;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>The netlink watchdog: a deleted Network route comes back; a deleted TUN makes the daemon exit loudly.</summary>
[TestFixture]
[Category("Privileged")]
[NonParallelizable]
public class WatchdogTests
{
    [Test]
    public void Deleted_network_route_is_restored_and_deleted_tun_exits_1_loudly()
    {
        using var world = new NodeAndPeer();
        var daemon = world.StartDaemon();

        NetnsScope.Exec(world.Node, $"ip route del {NodeAndPeer.Network} dev flannel0");
        var restored = NodeAndPeer.Poll(() => NodeAndPeer.HasTunRoute(world.Node), TimeSpan.FromSeconds(10));
        TestContext.Out.WriteLine($"route restored after {restored?.TotalMilliseconds.ToString("F0", System.Globalization.CultureInfo.InvariantCulture) ?? "never"} ms (target 2000)");
        Assert.That(restored, Is.Not.Null, "route not restored within 10 s:\n" + daemon.Log);
        Assert.That(restored, Is.LessThan(TimeSpan.FromSeconds(6)), "3x the 2 s target");
        Assert.That(daemon.WaitForLog("restored: route", TimeSpan.FromSeconds(2)), Is.True, daemon.Log);

        // Taken over rather than deleted: the kernel reports only a new route.
        NetnsScope.Exec(world.Node, $"ip route replace {NodeAndPeer.Network} dev eth0");
        var retaken = NodeAndPeer.Poll(() => NodeAndPeer.HasTunRoute(world.Node), TimeSpan.FromSeconds(10));
        TestContext.Out.WriteLine($"replaced route restored after {retaken?.TotalMilliseconds.ToString("F0", System.Globalization.CultureInfo.InvariantCulture) ?? "never"} ms (target 2000)");
        Assert.That(retaken, Is.Not.Null.And.LessThan(TimeSpan.FromSeconds(6)), "route replaced by another device was not restored:\n" + daemon.Log);
        Assert.That(daemon.Process.HasExited, Is.False);

        var sw = Stopwatch.StartNew();
        NetnsScope.Exec(world.Node, "ip link del flannel0");
        Assert.That(daemon.WaitForExit(TimeSpan.FromSeconds(10)), Is.True, "daemon kept running without its TUN:\n" + daemon.Log);
        TestContext.Out.WriteLine($"TUN deleted → exit {daemon.Process.ExitCode} after {sw.ElapsedMilliseconds} ms");
        Assert.That(daemon.Process.ExitCode, Is.EqualTo(1), daemon.Log);
        Assert.That(daemon.StdErr, Has.Some.StartsWith("dataplane: TUN flannel0 was deleted"), daemon.Log);
        Assert.That(NodeAndPeer.HasGuardRoute(world.Node), Is.True, "the guard covers the gap until the supervisor restarts us");
    }
}

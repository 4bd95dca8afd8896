using Dataplane.Devices;
using System.Diagnostics;
using Dataplane.Testing;
using Dataplane.Tun.Netlink;

namespace Dataplane.Tun.Tests;

[Category("Privileged")]
public class NetlinkMonitorTests
{
    [Test]
    public void Monitor_SeesTheRouteAndThenTheTunDeletedUnderUs()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var tun = TunTestNet.FlannelTun(ns, new TunOptions { Name = "flannel0", Persistent = true });
        using var monitor = NetworkNamespace.Run(ns, () => new NetlinkMonitor());

        NetnsScope.Exec(ns, "ip route del 10.244.0.0/16 dev flannel0");
        var deleted = WaitFor(monitor, c => c.Kind == NetlinkChangeKind.RouteDeleted && c.Route!.Destination == TunTestNet.Network);
        Assert.That(deleted, Is.Not.Null, "route deletion not reported");

        NetnsScope.Exec(ns, "ip link del flannel0");
        var gone = WaitFor(monitor, c => c.Kind == NetlinkChangeKind.LinkDeleted && c.Link!.Name == "flannel0");
        Assert.That(gone, Is.Not.Null, "link deletion not reported");

        // The TUN fd itself now reports the device gone instead of blocking forever.
        var buffer = new Dataplane.Buffers.PacketBuffer(2048);
        var r = tun.TryRead(buffer);
        Assert.That(r.Status, Is.EqualTo(IoStatus.Error), $"read on a deleted TUN: {r}");
        Assert.That(r.Errno, Is.EqualTo(77), "EBADFD");
    }

    [Test]
    public void Dispose_WakesABlockedMonitorRead()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        var monitor = NetworkNamespace.Run(ns, () => new NetlinkMonitor());
        bool? result = null;
        var reader = new Thread(() => result = monitor.Read(new List<NetlinkChange>())) { IsBackground = true };
        reader.Start();
        Thread.Sleep(200);
        monitor.Dispose();
        Assert.That(reader.Join(TimeSpan.FromSeconds(2)), Is.True);
        Assert.That(result, Is.False);
    }

    private static NetlinkChange? WaitFor(NetlinkMonitor monitor, Func<NetlinkChange, bool> match)
    {
        var changes = new List<NetlinkChange>();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            changes.Clear();
            monitor.Read(changes, timeoutMs: 500);
            var hit = changes.FirstOrDefault(match);
            if (hit is not null)
            {
                TestContext.Out.WriteLine($"{hit.Kind} seen after {sw.Elapsed.TotalMilliseconds:F1} ms");
                return hit;
            }
        }
        return null;
    }
}

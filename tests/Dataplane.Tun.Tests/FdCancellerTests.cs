using System.Diagnostics;
using Dataplane.Packets;
using Dataplane.Testing;

namespace Dataplane.Tun.Tests;

[Category("Privileged")]
public class FdCancellerTests
{
    [Test]
    public void Wait_TimesOut_ThenCancelWakesEveryWaiter_NowAndLater()
    {
        Prerequisites.RequireNetns();
        using var scope = new NetnsScope();
        var ns = scope.Create("a");
        using var tun = NetworkNamespace.Run(ns, () => LinuxTunDevice.Open());
        using var socket = NetworkNamespace.Run(ns, () => UdpUnderlay.Open(new UdpUnderlayOptions { LocalEndpoint = new UnderlayEndpoint(Ipv4Address.Parse("127.0.0.1"), 0) }));
        using var canceller = new FdCanceller();
        var fd = socket.Handle;

        var sw = Stopwatch.StartNew();
        Assert.That(canceller.Wait(fd, forWrite: false, timeoutMs: 50), Is.EqualTo(WaitResult.TimedOut));
        Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(45));
        Assert.That(canceller.Wait(fd, forWrite: true, timeoutMs: 1000), Is.EqualTo(WaitResult.Ready), "an idle UDP socket is writable");

        var results = new WaitResult[3];
        var threads = Enumerable.Range(0, 3).Select(i => new Thread(() => results[i] = canceller.Wait(fd, forWrite: false)) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        Thread.Sleep(100);
        sw.Restart();
        canceller.Cancel();
        foreach (var t in threads)
            Assert.That(t.Join(TimeSpan.FromSeconds(2)), Is.True);
        TestContext.Out.WriteLine($"3 waiters woke within {sw.Elapsed.TotalMilliseconds:F2} ms of Cancel");
        Assert.That(results, Is.All.EqualTo(WaitResult.Cancelled));
        Assert.That(canceller.Wait(fd, forWrite: true, timeoutMs: 1000), Is.EqualTo(WaitResult.Cancelled), "stays cancelled");
        canceller.Cancel(); // idempotent
    }
}

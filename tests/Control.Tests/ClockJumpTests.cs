using System.Diagnostics;
using Control.Daemon;
using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

/// <summary>
/// A forward wall-clock jump larger than the time left on the leases (issue 13 §2). Time namespaces do not move
/// CLOCK_REALTIME, so the jump is injected: every daemon and the store share one <see cref="JumpingClock"/>, whose
/// wall clock the test moves while its monotonic clock (timers, Task.Delay) keeps running normally.
/// In-process daemons with the control-only data path: no root, no kernel state.
/// </summary>
[NonParallelizable]
public class ClockJumpTests
{
    /// <summary>The system clock plus an offset on the wall clock only (GetTimestamp and timers stay monotonic).</summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _offsetTicks;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
    }

    private sealed class Node(NodeDaemon daemon, Task<int> run)
    {
        public NodeDaemon Daemon { get; } = daemon;

        public Task<int> Run { get; } = run;
    }

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    private static Node Start(TempDir dir, int n, TimeProvider clock, CancellationToken stop)
    {
        var options = new RunOptions
        {
            Ifaces = ["eth0"],
            PublicIp = Ipv4Address.Parse($"198.18.0.{n}"),
            LeaseDir = dir["leases"],
            SubnetFile = dir[$"node{n}/subnet.env"],
            NetConfigPath = dir["net.json"],
            ControlOnly = true,
            LeaseTtl = Ttl,
            RenewMargin = TimeSpan.FromSeconds(5),
        };
        var host = new FakeHost("eth0", FakeHost.Nic("eth0", 1500, $"198.18.0.{n}"));
        // Each node opens the shared directory as its own store, as separate daemons do.
        var registry = DirectorySubnetRegistry.Open(dir["leases"], clock, NullLogger.Instance);
        var daemon = new NodeDaemon(options, registry, host, new LoggingDataPath.Factory(), NullLoggerFactory.Instance, clock);
        return new Node(daemon, Task.Run(() => daemon.RunAsync(stop)));
    }

    private static string Describe(IEnumerable<Node> nodes, DirectorySubnetRegistry store, TimeProvider clock) =>
        $"now {clock.GetUtcNow():O}; tasks: {string.Join(", ", nodes.Select(x => x.Run.Status + (x.Run.Exception is { } e ? $" ({e.InnerException?.Message})" : "")))}; " +
        $"leases: {string.Join(", ", store.List().Leases.Select(l => $"{l.Subnet} {l.Attributes.PublicIP} until {l.Expiration:O}"))}";

    [Test]
    public void A_forward_jump_beyond_every_lease_expiry_does_not_make_the_daemons_exit()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}""");
        var clock = new JumpingClock();
        using var stop = new CancellationTokenSource();
        var nodes = Enumerable.Range(1, 3).Select(n => Start(dir, n, clock, stop.Token)).ToList();
        var store = DirectorySubnetRegistry.Open(dir["leases"], clock, NullLogger.Instance);
        try
        {
            Assert.That(Poll(() => store.List().Leases.Count == 3, TimeSpan.FromSeconds(20)), Is.True, Describe(nodes, store, clock));

            // Two hours: far beyond the 30 s TTL, so every lease in the store is expired at once.
            clock.Jump(TimeSpan.FromHours(2));
            var sw = Stopwatch.StartNew();
            bool recovered = Poll(() => store.List().Leases.Count(l => l.Expiration > clock.GetUtcNow() + Ttl / 2) == 3 || nodes.Any(x => x.Run.IsCompleted),
                TimeSpan.FromSeconds(15));
            TestContext.Out.WriteLine($"after {sw.Elapsed.TotalSeconds:F1} s: {Describe(nodes, store, clock)}");
            Assert.That(nodes.Where(x => x.Run.IsCompleted), Is.Empty, "a daemon exited after the jump: " + Describe(nodes, store, clock));
            Assert.That(recovered, Is.True, "every lease is re-published with a fresh expiry: " + Describe(nodes, store, clock));
            Assert.That(store.List().Leases.Select(l => l.Attributes.PublicIP.ToString()), Is.EquivalentTo(new[] { "198.18.0.1", "198.18.0.2", "198.18.0.3" }));

            // Still running a while later (the watch loops have seen the churn by now).
            Thread.Sleep(TimeSpan.FromSeconds(2));
            Assert.That(nodes.Where(x => x.Run.IsCompleted), Is.Empty, Describe(nodes, store, clock));
        }
        finally
        {
            stop.Cancel();
            Assert.That(Task.WaitAll([.. nodes.Select(x => x.Run)], TimeSpan.FromSeconds(20)), Is.True, "daemons stop on cancel");
        }
        Assert.That(nodes.Select(x => x.Run.Result), Is.All.Zero);
    }

    [Test]
    public void Without_a_jump_a_deleted_lease_is_still_a_revocation()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}""");
        var clock = new JumpingClock();
        using var stop = new CancellationTokenSource();
        var node = Start(dir, 1, clock, stop.Token);
        var store = DirectorySubnetRegistry.Open(dir["leases"], clock, NullLogger.Instance);
        try
        {
            Assert.That(Poll(() => store.List().Leases.Count == 1, TimeSpan.FromSeconds(20)), Is.True, Describe([node], store, clock));
            store.Delete(store.List().Leases[0].Subnet);
            Assert.That(Poll(() => node.Run.IsCompleted, TimeSpan.FromSeconds(10)), Is.True, Describe([node], store, clock));
            var e = Assert.Throws<AggregateException>(() => node.Run.Wait())!;
            Assert.That(e.InnerException, Is.TypeOf<ControlException>().With.Message.Contains("Lease has been revoked"));
            Assert.That(store.List().Leases, Is.Empty, "not re-published");
        }
        finally
        {
            stop.Cancel();
        }
    }

    private static bool Poll(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition())
                return true;
            Thread.Sleep(50);
        }
        return condition();
    }
}

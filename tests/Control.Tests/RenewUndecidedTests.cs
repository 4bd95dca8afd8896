using System.Diagnostics;
using Control.Daemon;
using Control.Leases;
using Control.Tests.Lab;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

/// <summary>
/// A renewal that finds our lease gone is checked once more (the clock-jump reclaim lists the store). When that check
/// cannot reach the store either, as when an etcd leader dies mid-renewal (seen in the three-member lab test), the
/// daemon must retry, not end with "internal error in the lease loops". A real directory store behind a decorator that
/// answers one renewal "gone" and fails the list right after; in-process daemon, control-only data path.
/// </summary>
[NonParallelizable]
public class RenewUndecidedTests
{
    /// <summary>Passes everything through, except: after <see cref="Arm"/>, one renewal says Gone and the next list fails.</summary>
    private sealed class GoneThenUnreachable(ISubnetRegistry inner) : ISubnetRegistry
    {
        private int _armed;
        private int _failNextList;

        public int Tripped { get; private set; }

        public void Arm() => Interlocked.Exchange(ref _armed, 1);

        public string Description => inner.Description;

        public string ConfigSource => inner.ConfigSource;

        public ValueTask<string?> GetNetworkConfigAsync(CancellationToken cancellationToken) => inner.GetNetworkConfigAsync(cancellationToken);

        public ValueTask<LeaseSnapshot> ListAsync(CancellationToken cancellationToken) =>
            Interlocked.Exchange(ref _failNextList, 0) == 1
                ? throw new SubnetRegistryUnavailableException("store: member lost mid-renewal (test)")
                : inner.ListAsync(cancellationToken);

        public ValueTask<DateTimeOffset?> TryCreateAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl, CancellationToken cancellationToken) =>
            inner.TryCreateAsync(subnet, attributes, ttl, cancellationToken);

        public ValueTask<DateTimeOffset?> PutAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl, CancellationToken cancellationToken) =>
            inner.PutAsync(subnet, attributes, ttl, cancellationToken);

        public ValueTask<RenewResult> RenewAsync(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1)
            {
                Interlocked.Exchange(ref _failNextList, 1);
                Tripped++;
                return ValueTask.FromResult(new RenewResult(RenewOutcome.Gone));
            }
            return inner.RenewAsync(subnet, owner, ttl, cancellationToken);
        }

        public ValueTask DeleteAsync(Ipv4Prefix subnet, CancellationToken cancellationToken) => inner.DeleteAsync(subnet, cancellationToken);

        public IAsyncEnumerable<LeaseSnapshot> WatchAsync(CancellationToken cancellationToken) => inner.WatchAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private static bool Until(Func<bool> condition, TimeSpan limit) => LabTesting.Poll(condition, limit) is not null;

    [Test, CancelAfter(60_000)]
    public void A_gone_renewal_whose_check_cannot_reach_the_store_is_retried_not_fatal()
    {
        using var dir = new TempDir();
        dir.Write("net.json", """{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}""");
        var options = new RunOptions
        {
            Ifaces = ["eth0"],
            PublicIp = Ipv4Address.Parse("198.18.0.1"),
            LeaseDir = dir["leases"],
            SubnetFile = dir["node1/subnet.env"],
            NetConfigPath = dir["net.json"],
            ControlOnly = true,
            LeaseTtl = TimeSpan.FromSeconds(4), // renewed every 2 s (half the TTL)
            RenewMargin = TimeSpan.FromSeconds(2),
        };
        var host = new FakeHost("eth0", FakeHost.Nic("eth0", 1500, "198.18.0.1"));
        var registry = new GoneThenUnreachable(DirectorySubnetRegistry.Open(dir["leases"], TimeProvider.System, NullLogger.Instance));
        var store = DirectorySubnetRegistry.Open(dir["leases"], TimeProvider.System, NullLogger.Instance);
        var daemon = new NodeDaemon(options, registry, host, new LoggingDataPath.Factory(), NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => daemon.RunAsync(stop.Token));
        try
        {
            Assert.That(Until(() => store.List().Leases.Count == 1 || run.IsCompleted, TimeSpan.FromSeconds(20)) && !run.IsCompleted, Is.True, $"started: {run.Status} {run.Exception?.InnerException?.Message}");
            registry.Arm();
            Assert.That(Until(() => registry.Tripped == 1 || run.IsCompleted, TimeSpan.FromSeconds(10)), Is.True, "a renewal fell due");
            var after = store.List().Leases.Single().Expiration!.Value;

            // Retried (1 s back-off) and renewed against the real store: the expiry moves on, the daemon runs.
            var sw = Stopwatch.StartNew();
            bool renewed = Until(() => store.List().Leases.Single().Expiration > after || run.IsCompleted, TimeSpan.FromSeconds(15));
            TestContext.Out.WriteLine($"after {sw.ElapsedMilliseconds} ms: daemon {run.Status} {run.Exception?.InnerException?.Message}; expiry {store.List().Leases.Single().Expiration:O} (was {after:O})");
            Assert.That(run.IsCompleted, Is.False, "the daemon did not end: " + run.Exception?.InnerException?.Message);
            Assert.That(renewed, Is.True, "the renewal was retried and succeeded");
        }
        finally
        {
            stop.Cancel();
            Assert.That(run.Wait(TimeSpan.FromSeconds(20)), Is.True, "the daemon stops on cancel");
        }
        Assert.That(run.Result, Is.Zero);
    }
}

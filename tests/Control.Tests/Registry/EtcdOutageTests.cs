using System.Diagnostics;
using Control.Leases;
using Dataplane.Packets;
using Dataplane.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests.Registry;

/// <summary>
/// The etcd store's watch through compaction and member loss, against real etcd (own members, tmpfs, own ports).
/// Every wait is bounded and logs what it saw.
/// </summary>
[NonParallelizable]
[Category("Etcd")]
public class EtcdOutageTests
{
    private static readonly LeaseAttributes Peer = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.7"));

    [Test, CancelAfter(120_000)]
    public async Task Compaction_under_a_running_watch_loses_nothing()
    {
        using var etcd = EtcdCluster.Start();
        var prefix = $"/t{Guid.NewGuid():N}/network";
        await using var store = EtcdSubnetRegistry.Open(new EtcdOptions(etcd.ClientUrls, prefix), TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(100));
        await using var watch = store.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await watch.MoveNextAsync(), Is.True);

        // Churn, then compact the history up to the newest revision while the watch is open.
        for (int i = 1; i <= 20; i++)
            await store.PutAsync(Ipv4Prefix.Parse($"10.244.{i}.0/24"), Peer, TimeSpan.FromHours(1), cts.Token);
        for (int i = 1; i <= 19; i++)
            await store.DeleteAsync(Ipv4Prefix.Parse($"10.244.{i}.0/24"), cts.Token);
        var status = etcd.Ctl("endpoint", "status", "--write-out=json").Check("status").StdOut;
        var revision = System.Text.Json.JsonDocument.Parse(status).RootElement[0].GetProperty("Status").GetProperty("header").GetProperty("revision").GetInt64();
        etcd.Ctl("compact", revision.ToString(System.Globalization.CultureInfo.InvariantCulture)).Check("compact");
        TestContext.Out.WriteLine($"compacted at revision {revision}");

        await store.PutAsync(Ipv4Prefix.Parse("10.244.99.0/24"), Peer, TimeSpan.FromHours(1), cts.Token);
        var seen = await UntilAsync(watch, s => s.Select(l => l.Subnet.ToString()).SequenceEqual(["10.244.20.0/24", "10.244.99.0/24"]), TimeSpan.FromSeconds(10));
        Assert.That(seen, Is.True, "after the compaction the watch still converges on the store's content");
    }

    [Test, CancelAfter(180_000)]
    public async Task Killing_the_member_we_talk_to_moves_the_watch_to_another_member()
    {
        using var etcd = EtcdCluster.Start(size: 3);
        var prefix = $"/t{Guid.NewGuid():N}/network";
        await using var store = EtcdSubnetRegistry.Open(new EtcdOptions(etcd.ClientUrls, prefix), TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        await using var watch = store.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await watch.MoveNextAsync(), Is.True);
        await store.PutAsync(Ipv4Prefix.Parse("10.244.1.0/24"), Peer, TimeSpan.FromHours(1), cts.Token);
        Assert.That(await UntilAsync(watch, s => s.Count == 1, TimeSpan.FromSeconds(10)), Is.True, "first put");

        // Every member holds our connection at some point; kill them one after another, one at a time.
        for (int victim = 0; victim < 3; victim++)
        {
            etcd.Kill(victim);
            var sw = Stopwatch.StartNew();
            var subnet = Ipv4Prefix.Parse($"10.244.{10 + victim}.0/24");
            // Killing the leader costs an election (timeout raised to 2.5 s for the shared CI cores): retry, bounded.
            Sh.Result put = null!;
            for (int attempt = 0; attempt < 6; attempt++)
            {
                put = etcd.Ctl("put", $"{prefix}/subnets/{SubnetKey.Format(subnet)}", """{"PublicIP":"198.18.0.8","PublicIPv6":null}""");
                if (put.ExitCode == 0)
                    break;
                TestContext.Out.WriteLine($"  put attempt {attempt} failed: {put.StdErr.Trim().Split('\n').LastOrDefault()}");
            }
            put.Check("put with a member down");
            var seen = await UntilAsync(watch, s => s.Any(l => l.Subnet == subnet), TimeSpan.FromSeconds(30));
            TestContext.Out.WriteLine($"member {victim} killed: change seen={seen} after {sw.ElapsedMilliseconds} ms");
            Assert.That(seen, Is.True, $"with member {victim} down the watch resumes on another member");
            etcd.Restart(victim);
        }
    }

    [Test, CancelAfter(180_000)]
    public async Task Losing_a_majority_stalls_writes_without_a_false_revocation_and_the_watch_resyncs_when_quorum_returns()
    {
        using var etcd = EtcdCluster.Start(size: 3);
        var prefix = $"/t{Guid.NewGuid():N}/network";
        await using var store = EtcdSubnetRegistry.Open(new EtcdOptions(etcd.ClientUrls, prefix), TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(160));
        await using var watch = store.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await watch.MoveNextAsync(), Is.True);
        var ours = Ipv4Prefix.Parse("10.244.1.0/24");
        await store.PutAsync(ours, Peer, TimeSpan.FromHours(1), cts.Token);
        Assert.That(await UntilAsync(watch, s => s.Count == 1, TimeSpan.FromSeconds(10)), Is.True, "first put");

        // Two of three members gone: no quorum, so no write can commit. A renewal must fail as "store unavailable"
        // (retry later), never come back as Gone (which the daemon would take for a revocation and exit on).
        etcd.Kill(1);
        etcd.Kill(2);
        var sw = Stopwatch.StartNew();
        RenewResult? outcome = null;
        Exception? error = null;
        try
        {
            outcome = await store.RenewAsync(ours, Peer.PublicIP, TimeSpan.FromHours(1), cts.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            error = e;
        }
        TestContext.Out.WriteLine($"renewal without quorum after {sw.ElapsedMilliseconds} ms: {(outcome is null ? error?.GetType().Name + ": " + error?.Message : outcome.Value.Outcome.ToString())}");
        Assert.That(outcome, Is.Null, "nothing can be renewed without quorum");
        Assert.That(error, Is.InstanceOf<IOException>(), "an outage is an IOException (SubnetRegistryUnavailableException): retried, not fatal");

        // Quorum back: the watch (never ended) resyncs and sees a change made after the outage.
        etcd.Restart(1);
        etcd.Restart(2);
        var late = Ipv4Prefix.Parse("10.244.42.0/24");
        Sh.Result put = null!;
        for (int attempt = 0; attempt < 10; attempt++)
        {
            put = etcd.Ctl("put", $"{prefix}/subnets/{SubnetKey.Format(late)}", """{"PublicIP":"198.18.0.9","PublicIPv6":null}""");
            if (put.ExitCode == 0)
                break;
            TestContext.Out.WriteLine($"  put attempt {attempt} failed: {put.StdErr.Trim().Split('\n').LastOrDefault()}");
        }
        put.Check("put after quorum returned");
        var seen = await UntilAsync(watch, s => s.Any(l => l.Subnet == late) && s.Any(l => l.Subnet == ours), TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine($"resynced after {sw.ElapsedMilliseconds} ms in all");
        Assert.That(seen, Is.True, "after quorum returns the watch resumes and still holds our lease");
        Assert.That((await store.RenewAsync(ours, Peer.PublicIP, TimeSpan.FromHours(1), cts.Token)).Outcome, Is.EqualTo(RenewOutcome.Renewed), "and renewals work again");
    }

    /// <summary>Reads snapshots until one satisfies <paramref name="done"/>: at most 50 snapshots and <paramref name="limit"/>.</summary>
    private static async Task<bool> UntilAsync(IAsyncEnumerator<LeaseSnapshot> watch, Func<IReadOnlyList<Lease>, bool> done, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 50 && sw.Elapsed < limit; i++)
        {
            var next = watch.MoveNextAsync().AsTask();
            if (await Task.WhenAny(next, Task.Delay(limit - sw.Elapsed)) != next)
                break;
            if (!await next)
                return false;
            TestContext.Out.WriteLine($"  {sw.ElapsedMilliseconds} ms: {string.Join(", ", watch.Current.Leases.Select(l => l.Subnet))}");
            if (done(watch.Current.Leases))
                return true;
        }
        return false;
    }
}

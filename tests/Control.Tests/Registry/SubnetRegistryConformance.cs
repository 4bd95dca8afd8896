using System.Diagnostics;
using Control.Config;
using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests.Registry;

/// <summary>
/// The contract of <see cref="ISubnetRegistry"/>, run unchanged against every store (one fixture per store
/// derives from this class). Real time and short TTLs, because etcd keeps its own clock: every timing check
/// polls and fails only at a generous multiple of the target, saying what it saw.
/// </summary>
public abstract class SubnetRegistryConformance
{
    private static readonly Ipv4Prefix Subnet = Ipv4Prefix.Parse("10.244.7.0/24");
    private static readonly LeaseAttributes Udp = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.1"));
    private static readonly LeaseAttributes Other = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.2"));
    private static readonly TimeSpan Long = TimeSpan.FromHours(24);

    /// <summary>Short enough to watch expire, long enough for etcd's minimum TTL.</summary>
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(3);

    /// <summary>flanneld's vxlan lease value, byte for byte (reference/flannel.md §2.3, §3).</summary>
    private const string FlanneldVxlanValue =
        """{"PublicIP":"198.18.0.9","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:09"}}""";

    /// <summary>A fresh, empty store of the kind under test (own directory, own prefix).</summary>
    private protected abstract Task<ISubnetRegistry> OpenEmptyAsync();

    /// <summary>Writes the network config where the store keeps it.</summary>
    private protected abstract Task WriteConfigAsync(string text);

    /// <summary>Writes <paramref name="value"/> at the subnet key as an operator (or flanneld) would, with no TTL.</summary>
    private protected abstract Task WriteRawAsync(string key, string value);

    /// <summary>The raw stored value at the subnet key, or null.</summary>
    private protected abstract Task<string?> ReadRawAsync(string key);

    /// <summary>Removes everything the fixture created for the current test.</summary>
    private protected abstract Task CleanUpAsync();

    private ISubnetRegistry _store = null!;

    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    [SetUp]
    public async Task OpenStore() => _store = await OpenEmptyAsync();

    [TearDown]
    public async Task CloseStore()
    {
        await _store.DisposeAsync();
        await CleanUpAsync();
    }

    [Test, CancelAfter(30_000)]
    public async Task Create_stores_flannels_value_and_is_create_if_absent()
    {
        var expiration = await _store.TryCreateAsync(Subnet, Udp, Long, Ct);
        Assert.That(expiration, Is.Not.Null.And.GreaterThan(DateTimeOffset.UtcNow + TimeSpan.FromHours(23)));
        Assert.That(await ReadRawAsync("10.244.7.0-24"), Is.EqualTo("""{"PublicIP":"198.18.0.1","PublicIPv6":null}"""));
        Assert.That(await _store.TryCreateAsync(Subnet, Other, Long, Ct), Is.Null, "a second creator loses");
        var lease = (await _store.ListAsync(Ct)).Leases.Single();
        Assert.That(lease.Attributes, Is.EqualTo(Udp));
        Assert.That(lease.IsStatic, Is.False);
    }

    [Test, CancelAfter(30_000)]
    public async Task Config_is_read_from_the_store()
    {
        await WriteConfigAsync("""{"Network":"10.244.0.0/16"}""");
        Assert.That(await _store.GetNetworkConfigAsync(Ct), Is.EqualTo("""{"Network":"10.244.0.0/16"}"""));
    }

    [Test, CancelAfter(30_000)]
    public async Task Put_without_ttl_is_a_reservation_that_renewal_reports_as_static()
    {
        Assert.That(await _store.PutAsync(Subnet, Udp, null, Ct), Is.Null);
        var lease = (await _store.ListAsync(Ct)).Leases.Single();
        Assert.That(lease.IsStatic, Is.True);
        Assert.That((await _store.RenewAsync(Subnet, Udp.PublicIP, Long, Ct)).Outcome, Is.EqualTo(RenewOutcome.Static));
    }

    [Test, CancelAfter(30_000)]
    public async Task Renewal_extends_and_only_the_owner_of_an_existing_lease_renews()
    {
        await _store.TryCreateAsync(Subnet, Udp, Short, Ct);
        var renewed = await _store.RenewAsync(Subnet, Udp.PublicIP, Long, Ct);
        Assert.That(renewed.Outcome, Is.EqualTo(RenewOutcome.Renewed));
        Assert.That(renewed.Expiration, Is.GreaterThan(DateTimeOffset.UtcNow + TimeSpan.FromHours(23)));
        Assert.That((await _store.RenewAsync(Subnet, Other.PublicIP, Long, Ct)).Outcome, Is.EqualTo(RenewOutcome.Gone), "not ours");
        await Task.Delay(Short + TimeSpan.FromSeconds(1), Ct);
        Assert.That((await _store.ListAsync(Ct)).Leases, Has.Count.EqualTo(1), "the renewal outlives the first TTL");
        await _store.DeleteAsync(Subnet, Ct);
        Assert.That((await _store.RenewAsync(Subnet, Udp.PublicIP, Long, Ct)).Outcome, Is.EqualTo(RenewOutcome.Gone), "deleted");
        await _store.DeleteAsync(Subnet, Ct); // absent: no-op
    }

    [Test, CancelAfter(30_000)]
    public async Task An_expired_lease_leaves_the_list_and_frees_its_subnet()
    {
        await _store.TryCreateAsync(Subnet, Udp, Short, Ct);
        var gone = await PollAsync(async () => (await _store.ListAsync(Ct)).Leases.Count == 0, Short * 3, "lease to expire");
        Assert.That(gone, Is.True);
        Assert.That(await _store.TryCreateAsync(Subnet, Other, Long, Ct), Is.Not.Null, "the subnet is free again");
        Assert.That((await _store.RenewAsync(Subnet, Udp.PublicIP, Long, Ct)).Outcome, Is.EqualTo(RenewOutcome.Gone), "the old holder is revoked");
    }

    [Test, CancelAfter(30_000)]
    public async Task A_lease_written_as_flanneld_writes_it_is_a_peer_and_a_corrupt_one_still_occupies_its_subnet()
    {
        await WriteRawAsync("10.244.9.0-24", FlanneldVxlanValue);
        await WriteRawAsync("10.244.10.0-24", "{not json");
        var snapshot = await _store.ListAsync(Ct);
        var peer = snapshot.Leases.Single();
        Assert.That(peer.Subnet.ToString(), Is.EqualTo("10.244.9.0/24"));
        Assert.That(peer.Attributes.BackendType, Is.EqualTo("vxlan"));
        Assert.That(peer.Attributes.PublicIP.ToString(), Is.EqualTo("198.18.0.9"));
        Assert.That(peer.IsStatic, Is.True, "no TTL: a reservation");
        Assert.That(snapshot.Corrupt.Select(c => c.Key), Is.EqualTo(new[] { "10.244.10.0-24" }));
        Assert.That(snapshot.Occupied.Select(o => o.ToString()), Does.Contain("10.244.10.0/24"));
    }

    [Test, CancelAfter(30_000)]
    public async Task Watch_yields_now_and_then_each_change_within_a_second()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using var watch = _store.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await NextAsync(watch, TimeSpan.FromSeconds(3), "first snapshot"), Is.Empty);

        var sw = Stopwatch.StartNew();
        await _store.TryCreateAsync(Subnet, Udp, Short, Ct);
        var added = await NextUntilAsync(watch, l => l.Count == 1, "the added lease");
        TestContext.Out.WriteLine($"add seen after {sw.ElapsedMilliseconds} ms");
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), "a change is seen within 1 s (failing at 3x)");
        Assert.That(added.Single().Attributes, Is.EqualTo(Udp));

        sw.Restart();
        await WriteRawAsync("10.244.9.0-24", FlanneldVxlanValue);
        await NextUntilAsync(watch, l => l.Count == 2, "the flanneld lease");
        TestContext.Out.WriteLine($"raw put seen after {sw.ElapsedMilliseconds} ms");

        sw.Restart();
        await _store.DeleteAsync(Ipv4Prefix.Parse("10.244.9.0/24"), Ct);
        await NextUntilAsync(watch, l => l.Count == 1, "the deletion");
        TestContext.Out.WriteLine($"delete seen after {sw.ElapsedMilliseconds} ms");

        sw.Restart();
        await NextUntilAsync(watch, l => l.Count == 0, "the expiry", Short * 4);
        TestContext.Out.WriteLine($"expiry seen {sw.ElapsedMilliseconds} ms after the delete (TTL {Short.TotalSeconds} s)");
        await cts.CancelAsync();
    }

    [Test, CancelAfter(60_000)]
    public async Task Concurrent_acquirers_get_distinct_subnets()
    {
        var config = NetworkConfigParser.Parse("""{"Network":"10.0.0.0/26","SubnetLen":29}""", "t"); // 7 usable /29s
        var tasks = Enumerable.Range(1, 6).Select(i => Task.Run(() =>
            new LeaseAcquirer(_store, NullLogger.Instance, new Random(i % 2))
                .AcquireAsync(config, LeaseAttributes.ForUdp(Ipv4Address.Parse($"198.18.1.{i}")), null, Long, Ct))).ToArray();
        var leases = await Task.WhenAll(tasks);
        Assert.That(leases.Select(l => l.Subnet).Distinct().Count(), Is.EqualTo(6), string.Join(", ", leases.Select(l => l.Subnet)));
        Assert.That((await _store.ListAsync(Ct)).Leases, Has.Count.EqualTo(6));
    }

    [Test, CancelAfter(60_000)]
    public async Task Acquisition_prefers_our_lease_by_public_ip_then_the_subnet_env_subnet_then_a_free_one()
    {
        // flannel's tryAcquireLease order (reference/flannel.md): a lease already held by our PublicIP, then the
        // subnet from subnet.env if it is free, then a random free one.
        var config = NetworkConfigParser.Parse("""{"Network":"10.244.0.0/16"}""", "t");
        var previous = Ipv4Prefix.Parse("10.244.9.0/24");
        await _store.TryCreateAsync(Subnet, Udp, Long, Ct);

        // 1. Our PublicIP already holds 10.244.7.0/24: reused, even though subnet.env names a free 10.244.9.0/24.
        var ours = await new LeaseAcquirer(_store, NullLogger.Instance).AcquireAsync(config, Udp, previous, Long, Ct);
        Assert.That(ours.Subnet, Is.EqualTo(Subnet), "the lease held by our PublicIP comes first");
        Assert.That(ours.Expiration, Is.Not.Null, "reused with a TTL, not turned into a reservation");

        // 2. Another node with no lease of its own gets its subnet.env subnet while it is free.
        var other = await new LeaseAcquirer(_store, NullLogger.Instance).AcquireAsync(config, Other, previous, Long, Ct);
        Assert.That(other.Subnet, Is.EqualTo(previous), "then the subnet from subnet.env");

        // 3. A third node naming the same (now taken) subnet gets a free one instead: never a taken subnet.
        var third = await new LeaseAcquirer(_store, NullLogger.Instance)
            .AcquireAsync(config, LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.3")), previous, Long, Ct);
        Assert.That(third.Subnet, Is.Not.EqualTo(previous).And.Not.EqualTo(Subnet), "then a free subnet");
        Assert.That(config.IsCompatible(third.Subnet), Is.True, third.Subnet.ToString());

        var leases = (await _store.ListAsync(Ct)).Leases;
        Assert.That(leases.Select(l => (l.Subnet, l.Attributes.PublicIP.ToString())),
            Is.EquivalentTo(new[] { (Subnet, "198.18.0.1"), (previous, "198.18.0.2"), (third.Subnet, "198.18.0.3") }), "one lease per node, nothing duplicated");
    }

    private static async Task<bool> PollAsync(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 1000 && sw.Elapsed < limit; i++)
        {
            if (await condition())
            {
                TestContext.Out.WriteLine($"{what}: after {sw.ElapsedMilliseconds} ms");
                return true;
            }
            await Task.Delay(100, Ct);
        }
        TestContext.Out.WriteLine($"{what}: not seen in {limit.TotalSeconds} s");
        return false;
    }

    private static async Task<IReadOnlyList<Lease>> NextAsync(IAsyncEnumerator<LeaseSnapshot> watch, TimeSpan limit, string what)
    {
        var next = watch.MoveNextAsync().AsTask();
        if (await Task.WhenAny(next, Task.Delay(limit, Ct)) != next)
            Assert.Fail($"watch yielded nothing in {limit.TotalSeconds} s, waiting for {what}");
        Assert.That(await next, Is.True, "the watch ended");
        return watch.Current.Leases;
    }

    /// <summary>Reads snapshots until one satisfies <paramref name="done"/>; at most 20 snapshots and <paramref name="limit"/>.</summary>
    private static async Task<IReadOnlyList<Lease>> NextUntilAsync(IAsyncEnumerator<LeaseSnapshot> watch, Func<IReadOnlyList<Lease>, bool> done, string what, TimeSpan? limit = null)
    {
        var deadline = Stopwatch.StartNew();
        var max = limit ?? TimeSpan.FromSeconds(3);
        for (int i = 0; i < 20; i++)
        {
            var left = max - deadline.Elapsed;
            if (left <= TimeSpan.Zero)
                break;
            var leases = await NextAsync(watch, left, what);
            TestContext.Out.WriteLine($"  snapshot: {string.Join(", ", leases.Select(l => l.Subnet))}");
            if (done(leases))
                return leases;
        }
        Assert.Fail($"no snapshot showed {what} within {max.TotalSeconds} s");
        return [];
    }
}

/// <summary>The contract against the embedded directory store.</summary>
[TestFixture]
public sealed class DirectoryRegistryConformance : SubnetRegistryConformance
{
    private TempDir? _dir;

    private protected override Task<ISubnetRegistry> OpenEmptyAsync()
    {
        _dir = new TempDir();
        return Task.FromResult<ISubnetRegistry>(DirectorySubnetRegistry.Open(_dir.Path, TimeProvider.System, NullLogger.Instance));
    }

    private protected override Task WriteConfigAsync(string text)
    {
        _dir!.Write("config", text);
        return Task.CompletedTask;
    }

    private protected override Task WriteRawAsync(string key, string value)
    {
        _dir!.Write("subnets/" + key, value);
        return Task.CompletedTask;
    }

    private protected override Task<string?> ReadRawAsync(string key) =>
        Task.FromResult(File.Exists(_dir![$"subnets/{key}"]) ? File.ReadAllText(_dir[$"subnets/{key}"]) : null);

    private protected override Task CleanUpAsync()
    {
        _dir?.Dispose();
        return Task.CompletedTask;
    }
}

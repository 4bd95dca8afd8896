using System.Diagnostics;
using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Tests;

public class DirectorySubnetRegistryTests
{
    private static readonly Ipv4Prefix Subnet = Ipv4Prefix.Parse("10.244.7.0/24");
    private static readonly LeaseAttributes Udp = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.1"));

    private static DirectorySubnetRegistry Open(TempDir dir, TimeProvider? time = null) =>
        DirectorySubnetRegistry.Open(dir.Path, time ?? TimeProvider.System, NullLogger.Instance, TimeSpan.FromMilliseconds(50));

    [Test]
    public void Create_writes_the_value_and_metadata_and_is_create_if_absent()
    {
        using var dir = new TempDir();
        var time = new ManualTime(DateTimeOffset.Parse("2030-01-01T00:00:00Z"));
        var r = Open(dir, time);
        var exp = r.TryCreate(Subnet, Udp, TimeSpan.FromHours(24));
        Assert.That(exp, Is.EqualTo(time.Now + TimeSpan.FromHours(24)));
        Assert.That(File.ReadAllText(dir["subnets/10.244.7.0-24"]), Is.EqualTo("""{"PublicIP":"198.18.0.1","PublicIPv6":null}"""));
        Assert.That(File.ReadAllText(dir["subnets/.meta/10.244.7.0-24"]), Does.StartWith("""{"Expiration":"2030-01-02T00:00:00.000Z","PublicIP":"198.18.0.1","Pid":"""));
        Assert.That(r.TryCreate(Subnet, LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.2")), TimeSpan.FromHours(24)), Is.Null);
        Assert.That(r.List().Leases.Single().Attributes, Is.EqualTo(Udp));
    }

    [Test]
    public void Lease_expires_after_its_ttl_and_renewal_extends_it()
    {
        using var dir = new TempDir();
        var time = new ManualTime(DateTimeOffset.Parse("2030-01-01T00:00:00Z"));
        var r = Open(dir, time);
        r.TryCreate(Subnet, Udp, TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(4));
        var renewed = r.Renew(Subnet, Udp.PublicIP, TimeSpan.FromSeconds(5));
        Assert.That(renewed, Is.EqualTo(new RenewResult(RenewOutcome.Renewed, time.Now + TimeSpan.FromSeconds(5))));
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(r.List().Leases, Has.Count.EqualTo(1), "renewed: still alive 8 s after creation");
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.That(r.List().Leases, Is.Empty, "expired: gone from the list at once");
        Assert.That(r.SweepExpired(), Is.EqualTo(1));
        Assert.That(File.Exists(dir["subnets/10.244.7.0-24"]), Is.False);
        Assert.That(File.Exists(dir["subnets/.meta/10.244.7.0-24"]), Is.False);
        Assert.That(r.Renew(Subnet, Udp.PublicIP, TimeSpan.FromSeconds(5)).Outcome, Is.EqualTo(RenewOutcome.Gone));
    }

    [Test]
    public void Renewing_an_expired_unswept_lease_reports_revocation_and_a_creator_can_take_the_subnet()
    {
        using var dir = new TempDir();
        var time = new ManualTime(DateTimeOffset.Parse("2030-01-01T00:00:00Z"));
        var r = Open(dir, time);
        r.TryCreate(Subnet, Udp, TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(6));
        var other = LeaseAttributes.ForUdp(Ipv4Address.Parse("198.18.0.2"));
        Assert.That(r.TryCreate(Subnet, other, TimeSpan.FromSeconds(5)), Is.Not.Null, "an expired lease does not block creation");
        Assert.That(r.Renew(Subnet, Udp.PublicIP, TimeSpan.FromSeconds(5)).Outcome, Is.EqualTo(RenewOutcome.Gone), "taken over by another PublicIP");
    }

    [Test]
    public void Hand_written_lease_without_metadata_is_static_and_never_expires()
    {
        using var dir = new TempDir();
        var time = new ManualTime(DateTimeOffset.Parse("2030-01-01T00:00:00Z"));
        var r = Open(dir, time);
        dir.Write("subnets/10.244.9.0-24", """{"PublicIP":"198.18.0.9","PublicIPv6":null}""");
        time.Advance(TimeSpan.FromDays(3650));
        r.SweepExpired();
        var lease = r.List().Leases.Single();
        Assert.That((lease.Subnet.ToString(), lease.IsStatic), Is.EqualTo(("10.244.9.0/24", true)));
        Assert.That(r.Renew(lease.Subnet, lease.Attributes.PublicIP, TimeSpan.FromSeconds(5)).Outcome, Is.EqualTo(RenewOutcome.Static));
    }

    [Test]
    public void Corrupt_entries_are_reported_not_thrown_and_still_occupy_their_subnet()
    {
        using var dir = new TempDir();
        var r = Open(dir);
        dir.Write("subnets/10.244.2.0-24", "{not json");
        dir.Write("subnets/garbage", "x");
        dir.Write("subnets/10.244.3.0-24", """{"PublicIP":"198.18.0.3","PublicIPv6":null}""");
        var snap = r.List();
        Assert.That(snap.Leases.Select(l => l.Subnet.ToString()), Is.EqualTo(new[] { "10.244.3.0/24" }));
        Assert.That(snap.Corrupt.Select(c => c.Key), Is.EquivalentTo(new[] { "10.244.2.0-24", "garbage" }));
        Assert.That(snap.Occupied.Select(s => s.ToString()), Does.Contain("10.244.2.0/24"));
    }

    [Test]
    public void Lock_is_exclusive_between_open_handles()
    {
        using var dir = new TempDir();
        Open(dir);
        using var held = new FileStream(dir["subnets/.lock"], FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        var e = Assert.Throws<IOException>(() => new FileStream(dir["subnets/.lock"], FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None).Dispose())!;
        Assert.That(DirectorySubnetRegistry.IsLockBusy(e), Is.True, $"the registry must recognise a busy lock (HResult {e.HResult})");
    }

    [Test]
    public void Unusable_directory_fails_with_one_clear_message()
    {
        using var dir = new TempDir();
        var file = dir.Write("plainfile", "x");
        var e = Assert.Throws<ControlException>(() => DirectorySubnetRegistry.Open(Path.Combine(file, "leases"), TimeProvider.System, NullLogger.Instance))!;
        Assert.That(e.Message, Does.Contain("is not usable"));
    }

    [Test]
    public async Task A_change_written_by_another_process_is_seen_within_one_second_target()
    {
        using var dir = new TempDir();
        var r = DirectorySubnetRegistry.Open(dir.Path, TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var e = r.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await e.MoveNextAsync(), Is.True);
        Assert.That(e.Current.Leases, Is.Empty);
        for (int i = 0; i < 3; i++)
        {
            var name = $"10.244.{20 + i}.0-24";
            var stopwatch = Stopwatch.StartNew();
            // Written as an operator would, without the lock or the registry (atomically, so no half file is seen).
            File.WriteAllText(dir[$"subnets/.{name}.tmp"], """{"PublicIP":"198.18.0.5","PublicIPv6":null}""");
            File.Move(dir[$"subnets/.{name}.tmp"], dir[$"subnets/{name}"]);
            Assert.That(await e.MoveNextAsync(), Is.True);
            stopwatch.Stop();
            Assert.That(e.Current.Leases.Select(l => SubnetKey.Format(l.Subnet)), Does.Contain(name));
            TestContext.Out.WriteLine($"change {i} seen after {stopwatch.Elapsed.TotalMilliseconds:0} ms (target 1 s)");
            // The target is 1 s (a 200 ms rescan); fail only at 3x, so a loaded CI machine cannot make this flaky.
            Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), $"change {i} seen after {stopwatch.Elapsed}");
        }
        await cts.CancelAsync();
    }

    [Test, CancelAfter(30_000)]
    public void Fifos_symlinks_devices_and_huge_files_are_reported_and_skipped_without_stalling_anyone()
    {
        using var dir = new TempDir();
        var r = Open(dir);
        r.TryCreate(Subnet, Udp, TimeSpan.FromHours(1));
        Dataplane.Testing.Sh.Run("mkfifo", [dir["subnets/10.244.30.0-24"]]).Check("mkfifo");
        Dataplane.Testing.Sh.Run("mkfifo", [dir["subnets/.meta/10.244.31.0-24"]]).Check("mkfifo");
        dir.Write("subnets/10.244.31.0-24", """{"PublicIP":"198.18.0.31","PublicIPv6":null}""");
        var target = dir.Write("outside", """{"PublicIP":"198.18.0.32","PublicIPv6":null}""");
        File.CreateSymbolicLink(dir["subnets/10.244.32.0-24"], target);
        File.CreateSymbolicLink(dir["subnets/10.244.33.0-24"], "/dev/zero");
        dir.Write("subnets/10.244.34.0-24", new string(' ', LeaseFile.MaxSize + 1));
        Directory.CreateDirectory(dir["subnets/10.244.35.0-24"]);

        var sw = Stopwatch.StartNew();
        var snap = r.List();
        var renewed = r.Renew(Subnet, Udp.PublicIP, TimeSpan.FromHours(1));
        TestContext.Out.WriteLine($"list + renew with bad entries took {sw.ElapsedMilliseconds} ms");
        Assert.That(renewed.Outcome, Is.EqualTo(RenewOutcome.Renewed), "a FIFO in the directory must not block renewals");
        Assert.That(snap.Leases.Select(l => l.Subnet), Is.EqualTo(new[] { Subnet }));
        var problems = snap.Corrupt.ToDictionary(c => c.Key, c => c.Problem);
        Assert.That(problems.Keys, Is.EquivalentTo(new[] { "10.244.30.0-24", "10.244.31.0-24", "10.244.32.0-24", "10.244.33.0-24", "10.244.34.0-24", "10.244.35.0-24" }));
        Assert.That(problems["10.244.30.0-24"], Does.Contain("not a regular file (a FIFO)"));
        Assert.That(problems["10.244.31.0-24"], Does.Contain("metadata is not a regular file (a FIFO)"));
        Assert.That(problems["10.244.32.0-24"], Does.Contain("symbolic link"));
        Assert.That(problems["10.244.33.0-24"], Does.Contain("symbolic link"));
        Assert.That(problems["10.244.34.0-24"], Does.Contain($"larger than {LeaseFile.MaxSize} bytes"));
        Assert.That(problems["10.244.35.0-24"], Does.Contain("not a regular file (a directory)"));
        Assert.That(snap.Occupied.Count(), Is.EqualTo(7), "bad entries still occupy their subnets");
    }

    [Test, CancelAfter(30_000)]
    public async Task The_watch_reports_bad_entries_appearing_and_still_delivers_later_valid_changes()
    {
        // Issue 13 §2: before LeaseFile, a FIFO blocked the watch's read forever and an unreadable entry ended the watch.
        using var dir = new TempDir();
        var r = Open(dir);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(25));
        await using var e = r.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await e.MoveNextAsync(), Is.True);
        Assert.That(e.Current.Leases, Is.Empty);

        // While the watch runs: a FIFO (value and metadata), symlinks to a lease outside and to a device, a file over
        // the size cap, a directory with a key's name.
        Dataplane.Testing.Sh.Run("mkfifo", [dir["subnets/10.244.40.0-24"]]).Check("mkfifo");
        Dataplane.Testing.Sh.Run("mkfifo", [dir["subnets/.meta/10.244.41.0-24"]]).Check("mkfifo");
        dir.Write("subnets/10.244.41.0-24", """{"PublicIP":"198.18.0.41","PublicIPv6":null}""");
        File.CreateSymbolicLink(dir["subnets/10.244.42.0-24"], dir.Write("outside", """{"PublicIP":"198.18.0.42","PublicIPv6":null}"""));
        File.CreateSymbolicLink(dir["subnets/10.244.43.0-24"], "/dev/zero");
        dir.Write("subnets/10.244.44.0-24", new string(' ', LeaseFile.MaxSize + 1));
        Directory.CreateDirectory(dir["subnets/10.244.45.0-24"]);
        var bad = new[] { "10.244.40.0-24", "10.244.41.0-24", "10.244.42.0-24", "10.244.43.0-24", "10.244.44.0-24", "10.244.45.0-24" };

        // Then valid changes, one after the other: each must still arrive.
        foreach (var (name, ip) in new[] { ("10.244.50.0-24", "198.18.0.50"), ("10.244.51.0-24", "198.18.0.51") })
        {
            var sw = Stopwatch.StartNew();
            dir.Write($"subnets/{name}", $$"""{"PublicIP":"{{ip}}","PublicIPv6":null}""");
            var seen = await NextWhere(e, s => s.Leases.Any(l => SubnetKey.Format(l.Subnet) == name));
            TestContext.Out.WriteLine($"{name} seen after {sw.ElapsedMilliseconds} ms; corrupt: {string.Join(", ", seen.Corrupt.Select(c => $"{c.Key}: {c.Problem}"))}");
            Assert.That(seen.Corrupt.Select(c => c.Key), Is.SupersetOf(bad), "every bad entry is reported");
            Assert.That(seen.Leases.Select(l => l.Attributes.PublicIP.ToString()), Has.No.Member("198.18.0.42"), "a symlink is never followed");
        }
        Assert.That(r.Renew(Ipv4Prefix.Parse("10.244.50.0/24"), Ipv4Address.Parse("198.18.0.50"), TimeSpan.FromSeconds(5)).Outcome,
            Is.EqualTo(RenewOutcome.Static), "the store still answers under its lock");
        await cts.CancelAsync();
    }

    [Test, CancelAfter(30_000)]
    public async Task A_dynamic_lease_that_loses_its_metadata_becomes_static_with_one_warning()
    {
        // The documented decision (class comment, README): a value whose .meta vanished is a static reservation, as an
        // etcd key without TTL is for flanneld, but never silently. A lease that was static from the start warns nothing.
        using var dir = new TempDir();
        var log = new ListLogger();
        var r = DirectorySubnetRegistry.Open(dir.Path, TimeProvider.System, log, TimeSpan.FromMilliseconds(50));
        r.TryCreate(Subnet, Udp, TimeSpan.FromHours(1));
        dir.Write("subnets/10.244.9.0-24", """{"PublicIP":"198.18.0.9","PublicIPv6":null}""");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(25));
        await using var e = r.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.That(await e.MoveNextAsync(), Is.True);
        Assert.That(e.Current.Leases.Single(l => l.Subnet == Subnet).IsStatic, Is.False);

        File.Delete(dir["subnets/.meta/10.244.7.0-24"]);
        var after = await NextWhere(e, s => s.Leases.Single(l => l.Subnet == Subnet).IsStatic);
        Assert.That(after.Leases, Has.Count.EqualTo(2), "still routed: a reservation now");
        var warnings = log.Lines.Where(l => l.Contains("lost its metadata", StringComparison.Ordinal)).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), string.Join("\n", log.Lines));
        Assert.That(warnings[0], Does.StartWith("Warning").And.Contain("10.244.7.0-24").And.Contain("never expires").And.Contain(dir["subnets/10.244.7.0-24"]));

        // Nothing more to say on later rounds (the next change wakes the watch again).
        dir.Write("subnets/10.244.10.0-24", """{"PublicIP":"198.18.0.10","PublicIPv6":null}""");
        await NextWhere(e, s => s.Leases.Count == 3);
        Assert.That(log.Lines.Count(l => l.Contains("lost its metadata", StringComparison.Ordinal)), Is.EqualTo(1), "warned once");
        await cts.CancelAsync();
    }

    private static async Task<LeaseSnapshot> NextWhere(IAsyncEnumerator<LeaseSnapshot> e, Func<LeaseSnapshot, bool> condition)
    {
        while (true)
        {
            Assert.That(await e.MoveNextAsync(), Is.True, "the watch ended");
            if (condition(e.Current))
                return e.Current;
        }
    }

    /// <summary>Collects "Level: message" lines (thread-safe: the watch logs from its own task).</summary>
    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => _lines.ToList();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }

    [Test]
    public void Crash_leftovers_are_swept()
    {
        using var dir = new TempDir();
        var r = Open(dir);
        dir.Write("subnets/.tmp-10.244.7.0-24-123-abc", "{half");
        dir.Write("subnets/.meta/.tmp-10.244.7.0-24-123-def", "{half");
        dir.Write("subnets/.meta/10.244.8.0-24", """{"Expiration":"2999-01-01T00:00:00.000Z","PublicIP":"198.18.0.8","Pid":1}""");
        r.SweepExpired();
        Assert.That(Directory.GetFiles(dir["subnets"], ".tmp-*").Concat(Directory.GetFiles(dir["subnets/.meta"])), Is.Empty,
            "temp files and metadata without a value are gone");
    }
}

using System.Runtime.CompilerServices;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// The embedded lease store: a directory shared by every node on one machine (each in its own network
/// namespace), mirroring flannel's etcd key space:
/// <code>
/// DIR/config                      network config (optional), as etcd's &lt;prefix&gt;/config
/// DIR/subnets/10.244.1.0-24       the lease value, byte for byte what flanneld stores in etcd
/// DIR/subnets/.meta/10.244.1.0-24 expiry and owner of a dynamic lease (absent: static lease, never expires)
/// DIR/subnets/.lock               flock'ed for every read and write
/// </code>
/// <para><b>Concurrency.</b> Every operation holds an exclusive <c>flock</c> on <c>.lock</c> (a FileStream opened
/// with <see cref="FileShare.None"/>, which .NET implements with <c>flock(LOCK_EX|LOCK_NB)</c>; we retry while it is
/// busy). Create-if-absent, renew and the expiry sweep are therefore check-then-act under one lock: a sweep can
/// never delete a lease renewed between its check and its delete, and two creators of one subnet cannot both
/// win. Files are still replaced atomically (write a temp file, then rename) so that an operator reading them
/// without the lock never sees half a value.</para>
/// <para><b>Ordering invariants.</b> A dynamic lease's metadata is written before its value and deleted after it,
/// so a value without metadata is always an operator's static lease; metadata without a value is an orphan
/// (a crash between the two writes) and is swept.</para>
/// <para><b>Expiry.</b> A lease whose metadata expiry has passed is absent from <see cref="List"/> at once, as an
/// expired etcd key is; its files are deleted by the next sweep (every <see cref="WatchAsync"/> loop sweeps about
/// once a second) or when someone creates the subnet again.</para>
/// </summary>
internal sealed class DirectorySubnetRegistry : ISubnetRegistry
{
    private const string MetaDirName = ".meta";
    private const string LockFileName = ".lock";
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);
    private static readonly UnixFileMode FileMode0644 =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly string _subnetsDir;
    private readonly string _metaDir;
    private readonly string _lockPath;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _pollInterval;

    private DirectorySubnetRegistry(string root, TimeProvider time, ILogger logger, TimeSpan pollInterval)
    {
        Root = Path.GetFullPath(root);
        _subnetsDir = Path.Combine(Root, "subnets");
        _metaDir = Path.Combine(_subnetsDir, MetaDirName);
        _lockPath = Path.Combine(_subnetsDir, LockFileName);
        ConfigSource = Path.Combine(Root, "config");
        _time = time;
        _logger = logger;
        _pollInterval = pollInterval;
    }

    /// <summary>How often <see cref="WatchAsync"/> rescans: well under the 1 s a change must take to be seen.</summary>
    public static TimeSpan DefaultPollInterval { get; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The store directory (absolute).</summary>
    public string Root { get; }

    /// <inheritdoc/>
    public string Description => $"lease dir {Root}";

    /// <inheritdoc/>
    public string ConfigSource { get; }

    /// <summary>
    /// Opens (creating if needed) the store at <paramref name="root"/> and proves it writable, so a bad
    /// directory fails at startup with one clear line rather than at the first renewal.
    /// </summary>
    public static DirectorySubnetRegistry Open(string root, TimeProvider time, ILogger logger, TimeSpan? pollInterval = null)
    {
        var registry = new DirectorySubnetRegistry(root, time, logger, pollInterval ?? DefaultPollInterval);
        try
        {
            Directory.CreateDirectory(registry._metaDir);
            var probe = Path.Combine(registry._subnetsDir, $".probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            using (registry.Lock())
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ControlException($"lease dir {registry.Root} is not usable (it must be a writable directory): {e.Message}");
        }
        return registry;
    }

    // The interface is asynchronous for network stores; this store's operations are short local file I/O under
    // a flock, so they run synchronously to completion and ignore the token (a cancelled shutdown token must not
    // abandon a half-done startup: `run` with an early SIGTERM still completes setup, then stops).

    /// <inheritdoc/>
    public ValueTask<string?> GetNetworkConfigAsync(CancellationToken cancellationToken) =>
        Run(GetNetworkConfig, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<LeaseSnapshot> ListAsync(CancellationToken cancellationToken) => Run(List, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<DateTimeOffset?> TryCreateAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl, CancellationToken cancellationToken) =>
        Run(() => TryCreate(subnet, attributes, ttl), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<DateTimeOffset?> PutAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl, CancellationToken cancellationToken) =>
        Run(() => Put(subnet, attributes, ttl), cancellationToken);

    /// <inheritdoc/>
    public ValueTask<RenewResult> RenewAsync(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl, CancellationToken cancellationToken) =>
        Run(() => Renew(subnet, owner, ttl), cancellationToken);

    /// <inheritdoc/>
    public ValueTask DeleteAsync(Ipv4Prefix subnet, CancellationToken cancellationToken)
    {
        Delete(subnet);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ValueTask<T> Run<T>(Func<T> operation, CancellationToken cancellationToken) =>
        ValueTask.FromResult(operation());

    /// <summary>The raw network config text, or null when DIR/config does not exist (synchronous form).</summary>
    public string? GetNetworkConfig()
    {
        try
        {
            return File.Exists(ConfigSource) ? File.ReadAllText(ConfigSource) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ControlException($"cannot read network config {ConfigSource}: {e.Message}");
        }
    }

    /// <summary>The live leases and unreadable entries (synchronous form of <see cref="ListAsync"/>).</summary>
    public LeaseSnapshot List()
    {
        using var held = Lock();
        return ListLocked(_time.GetUtcNow());
    }

    /// <summary>Synchronous form of <see cref="TryCreateAsync"/>.</summary>
    public DateTimeOffset? TryCreate(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl)
    {
        using var held = Lock();
        var now = _time.GetUtcNow();
        var key = SubnetKey.Format(subnet);
        if (File.Exists(ValuePath(key)))
        {
            if (!IsExpired(key, now))
                return null;
            SweepLocked(key);
        }
        var expiration = now + ttl;
        WriteAtomic(MetaPath(key), new LeaseMetadata(expiration, attributes.PublicIP, Environment.ProcessId).ToJsonBytes());
        WriteAtomic(ValuePath(key), attributes.ToJsonBytes());
        return expiration;
    }

    /// <summary>Synchronous form of <see cref="PutAsync"/>.</summary>
    public DateTimeOffset? Put(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl)
    {
        using var held = Lock();
        var key = SubnetKey.Format(subnet);
        if (ttl is not TimeSpan t)
        {
            WriteAtomic(ValuePath(key), attributes.ToJsonBytes());
            File.Delete(MetaPath(key));
            return null;
        }
        var expiration = _time.GetUtcNow() + t;
        WriteAtomic(MetaPath(key), new LeaseMetadata(expiration, attributes.PublicIP, Environment.ProcessId).ToJsonBytes());
        WriteAtomic(ValuePath(key), attributes.ToJsonBytes());
        return expiration;
    }

    /// <summary>Synchronous form of <see cref="RenewAsync"/>.</summary>
    public RenewResult Renew(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl)
    {
        using var held = Lock();
        var now = _time.GetUtcNow();
        var key = SubnetKey.Format(subnet);
        var value = TryReadAllBytes(ValuePath(key));
        if (value is null)
            return new RenewResult(RenewOutcome.Gone);
        if (!LeaseAttributes.TryParse(value, out var attributes, out var problem))
            return new RenewResult(RenewOutcome.Corrupt, Problem: problem);
        if (attributes.PublicIP != owner)
            return new RenewResult(RenewOutcome.Gone);
        var meta = TryReadAllBytes(MetaPath(key));
        if (meta is null)
            return new RenewResult(RenewOutcome.Static);
        if (LeaseMetadata.TryParse(meta, out var metadata, out _) && metadata.Expiration <= now)
        {
            // Expired but not yet swept: etcd would already have deleted the key, so this is a revocation.
            SweepLocked(key);
            return new RenewResult(RenewOutcome.Gone);
        }
        var expiration = now + ttl;
        WriteAtomic(MetaPath(key), new LeaseMetadata(expiration, owner, Environment.ProcessId).ToJsonBytes());
        return new RenewResult(RenewOutcome.Renewed, expiration);
    }

    /// <summary>Synchronous form of <see cref="DeleteAsync"/>.</summary>
    public void Delete(Ipv4Prefix subnet)
    {
        using var held = Lock();
        SweepLocked(SubnetKey.Format(subnet));
    }

    /// <summary>Deletes expired leases and orphaned metadata; returns how many leases expired.</summary>
    public int SweepExpired()
    {
        using var held = Lock();
        var now = _time.GetUtcNow();
        int swept = 0;
        foreach (var metaPath in Directory.EnumerateFiles(_metaDir))
        {
            var key = Path.GetFileName(metaPath);
            if (key.StartsWith('.'))
                continue;
            if (!File.Exists(ValuePath(key)))
            {
                File.Delete(metaPath);
            }
            else if (IsExpired(key, now))
            {
                _logger.LogInformation("Lease {Key} expired, deleting it", key);
                SweepLocked(key);
                swept++;
            }
        }
        return swept;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<LeaseSnapshot> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        LeaseSnapshot? last = null;
        int polls = 0;
        var sweepEvery = Math.Max(1, (int)(TimeSpan.FromSeconds(1) / _pollInterval));
        while (!cancellationToken.IsCancellationRequested)
        {
            LeaseSnapshot? snapshot = null;
            try
            {
                if (polls++ % sweepEvery == 0)
                    SweepExpired();
                snapshot = List();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A transient failure (a file vanishing mid-scan, a busy lock) must not stop the watch.
                _logger.LogWarning("Scanning {Dir} failed, retrying: {Error}", _subnetsDir, e.Message);
            }
            if (snapshot is not null && (last is null || !SameContent(last, snapshot)))
            {
                last = snapshot;
                yield return snapshot;
            }
            try
            {
                await Task.Delay(_pollInterval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    private LeaseSnapshot ListLocked(DateTimeOffset now)
    {
        var leases = new List<Lease>();
        var corrupt = new List<CorruptLease>();
        foreach (var path in Directory.EnumerateFiles(_subnetsDir))
        {
            var key = Path.GetFileName(path);
            if (key.StartsWith('.'))
                continue;
            if (!SubnetKey.TryParse(key, out var subnet))
            {
                corrupt.Add(new CorruptLease(key, null, "file name is not a subnet key A.B.C.D-LEN", null));
                continue;
            }
            // Metadata first: it is written before and deleted after the value (see the class comment).
            var metaBytes = TryReadAllBytes(MetaPath(key));
            LeaseMetadata? metadata = null;
            if (metaBytes is not null && !LeaseMetadata.TryParse(metaBytes, out metadata, out var metaProblem))
            {
                corrupt.Add(new CorruptLease(key, subnet, metaProblem, null));
                continue;
            }
            if (metadata is not null && metadata.Expiration <= now)
                continue;
            var value = TryReadAllBytes(path);
            if (value is null)
                continue;
            if (!LeaseAttributes.TryParse(value, out var attributes, out var problem))
            {
                corrupt.Add(new CorruptLease(key, subnet, problem, metadata?.PublicIP));
                continue;
            }
            leases.Add(new Lease(subnet.Value, attributes, metadata?.Expiration));
        }
        leases.Sort((a, b) => a.Subnet.Address.CompareTo(b.Subnet.Address));
        corrupt.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new LeaseSnapshot(leases, corrupt);
    }

    private bool IsExpired(string key, DateTimeOffset now)
    {
        var meta = TryReadAllBytes(MetaPath(key));
        return meta is not null && LeaseMetadata.TryParse(meta, out var metadata, out _) && metadata.Expiration <= now;
    }

    /// <summary>Value first, then metadata: a value never exists without the metadata it was created with.</summary>
    private void SweepLocked(string key)
    {
        File.Delete(ValuePath(key));
        File.Delete(MetaPath(key));
    }

    private string ValuePath(string key) => Path.Combine(_subnetsDir, key);

    private string MetaPath(string key) => Path.Combine(_metaDir, key);

    private static byte[]? TryReadAllBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Temp file in the same directory, then rename(2): readers see the old or the new bytes, never a mix.</summary>
    private static void WriteAtomic(string path, byte[] bytes)
    {
        var dir = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(dir, $".tmp-{Path.GetFileName(path)}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = FileMode0644,
            }))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Takes the store-wide exclusive flock, retrying while another process (or thread) holds it.</summary>
    private FileStream Lock()
    {
        var deadline = _time.GetTimestamp() + (long)(LockTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            try
            {
                return new FileStream(_lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (IsLockBusy(e))
            {
                if (_time.GetTimestamp() > deadline)
                    throw new IOException($"{_lockPath} stayed locked for {LockTimeout.TotalSeconds} s", e);
                Thread.Sleep(Random.Shared.Next(1, 4));
            }
        }
    }

    /// <summary>
    /// True when opening the lock file failed only because another handle holds the flock: on Linux .NET surfaces
    /// flock's EWOULDBLOCK (11) as the IOException's HResult; ERROR_SHARING_VIOLATION is accepted for safety.
    /// </summary>
    internal static bool IsLockBusy(IOException e) => e.HResult is 11 or unchecked((int)0x80070020);

    private static bool SameContent(LeaseSnapshot a, LeaseSnapshot b) =>
        a.Leases.SequenceEqual(b.Leases) && a.Corrupt.SequenceEqual(b.Corrupt);
}

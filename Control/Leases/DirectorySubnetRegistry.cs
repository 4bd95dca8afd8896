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
/// and every rename is followed by an fsync of its directory, so the metadata is durable before the value can
/// appear, even across a power loss. Hence a value without metadata was never written by a daemon as a dynamic
/// lease: it is an operator's static reservation (or a reservation a daemon reused, flannel's TTL-0 update).
/// <b>Decision (issue 13 §2):</b> when a lease the watch saw with metadata later shows up without it (an operator
/// deleted the .meta file, or a filesystem lost it despite the fsyncs), the watch logs a warning naming the file:
/// it is then a reservation, by the rule flanneld applies to an etcd key without a TTL, but never silently.
/// Metadata without a value is an orphan (a crash between the two writes) and is swept.</para>
/// <para><b>Untrusted entries.</b> Entries are read through <see cref="LeaseFile"/>: regular files only (no symlink
/// followed, a FIFO or device never opened blocking), at most 64 KiB; a bad entry becomes a
/// <see cref="CorruptLease"/> with the reason and never stops the scan. <c>.tmp-*</c> files left by a crash
/// mid-write are swept (under the lock nobody is writing one).</para>
/// <para><b>Expiry.</b> A lease whose metadata expiry has passed is absent from <see cref="List"/> at once, as an
/// expired etcd key is; its files are deleted when the watch reaches its expiry, by a sweep, or when someone
/// creates the subnet again.</para>
/// </summary>
internal sealed partial class DirectorySubnetRegistry : ISubnetRegistry
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
    private readonly TimeSpan _resyncInterval;

    private DirectorySubnetRegistry(string root, TimeProvider time, ILogger logger, TimeSpan resyncInterval)
    {
        Root = Path.GetFullPath(root);
        _subnetsDir = Path.Combine(Root, "subnets");
        _metaDir = Path.Combine(_subnetsDir, MetaDirName);
        _lockPath = Path.Combine(_subnetsDir, LockFileName);
        ConfigSource = Path.Combine(Root, "config");
        _time = time;
        _logger = logger;
        _resyncInterval = resyncInterval;
    }

    /// <summary>
    /// How often <see cref="WatchAsync"/> compares every entry's (mtime, size) with what it holds, in case inotify
    /// missed something (a queue overflow, a network filesystem): a safety net, not the way changes are seen.
    /// </summary>
    public static TimeSpan DefaultResyncInterval { get; } = TimeSpan.FromSeconds(30);

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
    public static DirectorySubnetRegistry Open(string root, TimeProvider time, ILogger logger, TimeSpan? resyncInterval = null)
    {
        var registry = new DirectorySubnetRegistry(root, time, logger, resyncInterval ?? DefaultResyncInterval);
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
        if (File.Exists(ValuePath(key)) || IsSymlink(ValuePath(key)))
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
        var read = LeaseFile.Read(ValuePath(key));
        if (read.Problem is { } fileProblem)
            return new RenewResult(RenewOutcome.Corrupt, Problem: fileProblem);
        if (read.Bytes is not { } value)
            return new RenewResult(RenewOutcome.Gone);
        if (!LeaseAttributes.TryParse(value, out var attributes, out var problem))
            return new RenewResult(RenewOutcome.Corrupt, Problem: problem);
        if (attributes.PublicIP != owner)
            return new RenewResult(RenewOutcome.Gone);
        var metaRead = LeaseFile.Read(MetaPath(key));
        if (metaRead.Problem is { } metaProblem)
            return new RenewResult(RenewOutcome.Corrupt, Problem: "metadata " + metaProblem);
        if (metaRead.Bytes is not { } meta)
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

    /// <summary>Deletes expired leases, orphaned metadata and crash leftovers; returns how many leases expired.</summary>
    public int SweepExpired()
    {
        using var held = Lock();
        SweepTempLeftoversLocked();
        var now = _time.GetUtcNow();
        int swept = 0;
        foreach (var metaPath in Directory.EnumerateFiles(_metaDir))
        {
            var key = Path.GetFileName(metaPath);
            if (key.StartsWith('.'))
                continue;
            if (!File.Exists(ValuePath(key)) && !IsSymlink(ValuePath(key)))
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

    /// <summary>Deletes <paramref name="keys"/> whose metadata says they have expired (re-checked under the lock).</summary>
    private void SweepKeys(IEnumerable<string> keys)
    {
        using var held = Lock();
        var now = _time.GetUtcNow();
        foreach (var key in keys)
        {
            if (IsExpired(key, now))
            {
                _logger.LogInformation("Lease {Key} expired, deleting it", key);
                SweepLocked(key);
            }
        }
    }

    /// <summary>
    /// Every write holds the lock from creating its temp file to renaming it, so a <c>.tmp-*</c> seen under the
    /// lock belongs to a writer that died mid-write.
    /// </summary>
    private void SweepTempLeftoversLocked()
    {
        foreach (var dir in new[] { _subnetsDir, _metaDir })
        {
            foreach (var temp in Directory.EnumerateFiles(dir, ".tmp-*"))
            {
                _logger.LogInformation("Removing {File}, left by a writer that stopped mid-write", temp);
                File.Delete(temp);
            }
        }
    }

    private static bool IsSymlink(string path) => new FileInfo(path).LinkTarget is not null;

    private LeaseSnapshot ListLocked(DateTimeOffset now)
    {
        var leases = new List<Lease>();
        var corrupt = new List<CorruptLease>();
        // Every entry, directories included: one named like a key is reported (LeaseFile: "not a regular file") and
        // occupies its subnet, as the watch sees it, so no allocator picks a subnet it could never rename a file onto.
        foreach (var path in Directory.EnumerateFileSystemEntries(_subnetsDir))
        {
            var key = Path.GetFileName(path);
            if (key.StartsWith('.'))
                continue;
            // Metadata first: it is written before and deleted after the value (see the class comment).
            var meta = SubnetKey.TryParse(key, out _) ? LeaseFile.Read(MetaPath(key)) : default;
            var (lease, bad) = Classify(key, meta, () => LeaseFile.Read(path), now);
            if (lease is not null)
                leases.Add(lease);
            else if (bad is not null)
                corrupt.Add(bad);
        }
        return Sorted(leases, corrupt);
    }

    private static LeaseSnapshot Sorted(List<Lease> leases, List<CorruptLease> corrupt)
    {
        leases.Sort((a, b) => a.Subnet.Address.CompareTo(b.Subnet.Address));
        corrupt.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new LeaseSnapshot(leases, corrupt);
    }

    /// <summary>
    /// What one key's files amount to: a live lease, an unusable entry, or nothing (absent or expired). The value
    /// is read only when the metadata does not already rule the key out.
    /// </summary>
    private static (Lease? Lease, CorruptLease? Corrupt) Classify(string key, LeaseFileRead meta, Func<LeaseFileRead> readValue, DateTimeOffset now)
    {
        if (!SubnetKey.TryParse(key, out var subnet))
            return (null, new CorruptLease(key, null, "file name is not a subnet key A.B.C.D-LEN", null));
        if (meta.Problem is { } metaFileProblem)
            return (null, new CorruptLease(key, subnet, "metadata " + metaFileProblem, null));
        LeaseMetadata? metadata = null;
        if (meta.Bytes is { } metaBytes && !LeaseMetadata.TryParse(metaBytes, out metadata, out var metaProblem))
            return (null, new CorruptLease(key, subnet, metaProblem, null));
        if (metadata is not null && metadata.Expiration <= now)
            return (null, null);
        var value = readValue();
        if (value.Problem is { } valueFileProblem)
            return (null, new CorruptLease(key, subnet, valueFileProblem, metadata?.PublicIP));
        if (value.Bytes is not { } bytes)
            return (null, null);
        if (!LeaseAttributes.TryParse(bytes, out var attributes, out var problem))
            return (null, new CorruptLease(key, subnet, problem, metadata?.PublicIP));
        return (new Lease(subnet.Value, attributes, metadata?.Expiration), null);
    }

    private bool IsExpired(string key, DateTimeOffset now) =>
        LeaseFile.Read(MetaPath(key)).Bytes is { } meta && LeaseMetadata.TryParse(meta, out var metadata, out _) && metadata.Expiration <= now;

    /// <summary>Value first, then metadata: a value never exists without the metadata it was created with.</summary>
    private void SweepLocked(string key)
    {
        File.Delete(ValuePath(key));
        File.Delete(MetaPath(key));
    }

    private string ValuePath(string key) => Path.Combine(_subnetsDir, key);

    private string MetaPath(string key) => Path.Combine(_metaDir, key);

    /// <summary>
    /// Temp file in the same directory, fsync, rename(2), then fsync of the directory: readers see the old or the new
    /// bytes, never a mix, and the rename is durable before the caller's next step (the ordering invariant).
    /// </summary>
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
            LeaseFile.SyncDirectory(dir);
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

    internal static bool SameContent(LeaseSnapshot a, LeaseSnapshot b) =>
        a.Leases.SequenceEqual(b.Leases) && a.Corrupt.SequenceEqual(b.Corrupt);
}

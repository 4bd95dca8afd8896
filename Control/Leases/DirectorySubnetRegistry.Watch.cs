using System.Collections.Concurrent;
using System.IO.Enumeration;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// The watch of the directory store: inotify (through <see cref="FileSystemWatcher"/>) says which names changed,
/// and only those keys are read again; nothing is read while nothing changes. Expiry is not a file event, so the
/// loop also wakes at the earliest expiry it holds. A slow resync compares each entry's (mtime, size) stamp every
/// <see cref="DefaultResyncInterval"/> and re-reads what differs, in case an event was lost (queue overflow).
/// </summary>
internal sealed partial class DirectorySubnetRegistry
{
    /// <summary>Events come in bursts (temp file, rename, metadata then value): gather a burst before reading.</summary>
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(15);

    /// <summary>Orphaned metadata and crash leftovers are rare: a full sweep now and then is enough.</summary>
    private static readonly TimeSpan FullSweepInterval = TimeSpan.FromMinutes(10);

    /// <inheritdoc/>
    public async IAsyncEnumerable<LeaseSnapshot> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var feed = new ChangeFeed(_subnetsDir, _logger);
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var dynamicKeys = new HashSet<string>(StringComparer.Ordinal);
        SafeSweepAll();
        Resync(entries, fullRead: true);
        var nextResync = _time.GetUtcNow() + _resyncInterval;
        var nextFullSweep = _time.GetUtcNow() + FullSweepInterval;
        LeaseSnapshot? last = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            var expired = entries.Where(e => e.Value.Expiration is { } x && x <= now).Select(e => e.Key).ToList();
            if (expired.Count > 0)
            {
                SafeSweep(expired);
                foreach (var key in expired)
                    Refresh(entries, key);
            }
            var snapshot = Build(entries, now);
            WarnLostMetadata(entries, dynamicKeys);
            if (last is null || !SameContent(last, snapshot))
            {
                last = snapshot;
                yield return snapshot;
            }

            var wake = nextResync;
            foreach (var entry in entries.Values)
            {
                if (entry.Expiration is { } x && x < wake)
                    wake = x;
            }
            var wait = wake - _time.GetUtcNow();
            bool signalled;
            try
            {
                signalled = await feed.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, cancellationToken).ConfigureAwait(false);
                if (signalled)
                    await Task.Delay(Debounce, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
            now = _time.GetUtcNow();
            if (feed.TakeOverflow() || now >= nextResync)
            {
                if (now >= nextFullSweep)
                {
                    SafeSweepAll();
                    nextFullSweep = now + FullSweepInterval;
                }
                Resync(entries, fullRead: false);
                nextResync = now + _resyncInterval;
            }
            foreach (var key in feed.Drain())
                Refresh(entries, key);
        }
    }

    /// <summary>One key as last read: its two files, their stamps, and what they amount to.</summary>
    private sealed record Entry(LeaseFileRead Meta, LeaseFileRead Value, (long, long) Stamp, DateTimeOffset? Expiration);

    private void Refresh(Dictionary<string, Entry> entries, string key)
    {
        var meta = LeaseFile.Read(MetaPath(key));
        var value = LeaseFile.Read(ValuePath(key));
        if (value.Absent && (meta.Absent || meta.Problem is not null))
        {
            entries.Remove(key);
            return;
        }
        DateTimeOffset? expiration = meta.Bytes is { } m && LeaseMetadata.TryParse(m, out var metadata, out _) ? metadata.Expiration : null;
        entries[key] = new Entry(meta, value, StampOf(key), expiration);
    }

    private (long, long) StampOf(string key)
    {
        var value = new FileInfo(ValuePath(key));
        var meta = new FileInfo(MetaPath(key));
        return (value.Exists ? value.LastWriteTimeUtc.Ticks ^ value.Length : 0, meta.Exists ? meta.LastWriteTimeUtc.Ticks ^ meta.Length : 0);
    }

    /// <summary>
    /// Re-reads the keys whose stamp differs from the one held (all of them when <paramref name="fullRead"/>), adds
    /// new ones and drops vanished ones. Stamps come from the directory listing (one lstat per entry, no open).
    /// </summary>
    private void Resync(Dictionary<string, Entry> entries, bool fullRead)
    {
        try
        {
            var stamps = new Dictionary<string, (long Value, long Meta)>(StringComparer.Ordinal);
            foreach (var (name, stamp) in Stamps(_subnetsDir))
                stamps[name] = (stamp, 0);
            foreach (var (name, stamp) in Stamps(_metaDir))
                stamps[name] = (stamps.TryGetValue(name, out var s) ? s.Value : 0, stamp);
            foreach (var key in entries.Keys.Where(k => !stamps.ContainsKey(k)).ToList())
                entries.Remove(key);
            foreach (var (key, stamp) in stamps)
            {
                if (fullRead || !entries.TryGetValue(key, out var held) || held.Stamp != stamp)
                    Refresh(entries, key);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Rescanning {Dir} failed, will retry: {Error}", _subnetsDir, e.Message);
        }
    }

    private static IEnumerable<(string Name, long Stamp)> Stamps(string dir) =>
        new FileSystemEnumerable<(string, long)>(dir,
            (ref FileSystemEntry e) => (e.FileName.ToString(), e.LastWriteTimeUtc.UtcTicks ^ e.Length),
            new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = true })
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.FileName.StartsWith("."), // directories too: see ListLocked
        };

    private static LeaseSnapshot Build(Dictionary<string, Entry> entries, DateTimeOffset now)
    {
        var leases = new List<Lease>();
        var corrupt = new List<CorruptLease>();
        foreach (var (key, entry) in entries)
        {
            var (lease, bad) = Classify(key, entry.Meta, () => entry.Value, now);
            if (lease is not null)
                leases.Add(lease);
            else if (bad is not null)
                corrupt.Add(bad);
        }
        return Sorted(leases, corrupt);
    }

    /// <summary>The documented rule for a dynamic lease that loses its metadata (see the class comment): say so, once.</summary>
    private void WarnLostMetadata(Dictionary<string, Entry> entries, HashSet<string> dynamicKeys)
    {
        foreach (var (key, entry) in entries)
        {
            if (entry.Meta.Bytes is not null)
            {
                dynamicKeys.Add(key);
            }
            else if (entry.Meta.Absent && entry.Value.Bytes is not null && dynamicKeys.Remove(key))
            {
                _logger.LogWarning(
                    "Lease {Key} lost its metadata ({Meta}): it is now a static reservation that never expires; delete {Value} if that is not intended",
                    key, MetaPath(key), ValuePath(key));
            }
        }
        dynamicKeys.IntersectWith(entries.Keys);
    }

    private void SafeSweep(IEnumerable<string> keys)
    {
        try
        {
            SweepKeys(keys);
        }
        catch (IOException e)
        {
            _logger.LogWarning("Deleting expired leases in {Dir} failed, will retry: {Error}", _subnetsDir, e.Message);
        }
    }

    private void SafeSweepAll()
    {
        try
        {
            SweepExpired();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Sweeping {Dir} failed, will retry: {Error}", _subnetsDir, e.Message);
        }
    }

    /// <summary>
    /// inotify on <c>subnets/</c> and <c>subnets/.meta/</c>: collects the lease keys named by events and signals the
    /// watch loop. Hidden names (temp files, the lock, probes) are ignored; a queue overflow sets a flag that makes
    /// the loop resync everything.
    /// </summary>
    private sealed class ChangeFeed : IDisposable
    {
        private readonly FileSystemWatcher _watcher;
        private readonly ConcurrentDictionary<string, byte> _changed = new(StringComparer.Ordinal);
        private readonly SemaphoreSlim _signal = new(0, 1);
        private readonly ILogger _logger;
        private int _overflow;

        public ChangeFeed(string subnetsDir, ILogger logger)
        {
            _logger = logger;
            _watcher = new FileSystemWatcher(subnetsDir)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.Attributes,
                InternalBufferSize = 64 * 1024,
            };
            _watcher.Created += OnEvent;
            _watcher.Changed += OnEvent;
            _watcher.Deleted += OnEvent;
            _watcher.Renamed += (_, e) =>
            {
                Note(e.OldName);
                Note(e.Name);
            };
            _watcher.Error += (_, e) =>
            {
                _logger.LogDebug("inotify reported {Error}; resyncing the lease directory", e.GetException().Message);
                Interlocked.Exchange(ref _overflow, 1);
                Signal();
            };
            _watcher.EnableRaisingEvents = true;
        }

        public bool TakeOverflow() => Interlocked.Exchange(ref _overflow, 0) == 1;

        public List<string> Drain()
        {
            var keys = new List<string>();
            foreach (var key in _changed.Keys)
            {
                if (_changed.TryRemove(key, out _))
                    keys.Add(key);
            }
            return keys;
        }

        /// <summary>Waits for an event or <paramref name="timeout"/>; true when an event came.</summary>
        public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            if (!_changed.IsEmpty)
                return true;
            using var timer = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
            try
            {
                await _signal.WaitAsync(linked.Token).ConfigureAwait(false);
                return true;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        private void OnEvent(object sender, FileSystemEventArgs e) => Note(e.Name);

        /// <summary>"A.B.C.D-LEN" (a value) or ".meta/A.B.C.D-LEN" (its metadata) name a key; nothing else does.</summary>
        private void Note(string? name)
        {
            if (string.IsNullOrEmpty(name))
                return;
            var key = name.StartsWith(".meta/", StringComparison.Ordinal) ? name[".meta/".Length..] : name;
            if (key.Length == 0 || key.StartsWith('.') || key.Contains('/', StringComparison.Ordinal))
                return;
            _changed[key] = 0;
            Signal();
        }

        private void Signal()
        {
            try
            {
                if (_signal.CurrentCount == 0)
                    _signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled: one wake-up covers every key collected so far.
            }
        }

        public void Dispose()
        {
            _watcher.Dispose();
            _signal.Dispose();
        }
    }
}

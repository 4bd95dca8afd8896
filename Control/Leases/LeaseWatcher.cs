using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// Turns successive store snapshots into batches of peer events, as flannel's <c>LeaseWatcher.Reset</c> diffs a
/// snapshot: new subnets are Added, vanished ones Removed, republished ones Changed; renewals alone (a new
/// expiry with the same attributes) are not events. Our own subnet is always skipped. Unreadable entries are
/// logged once each and counted, never thrown. Not thread-safe: one watch loop owns it.
/// </summary>
internal sealed class LeaseWatcher
{
    private readonly Ipv4Prefix _ownSubnet;
    private readonly ILogger _logger;
    private readonly Dictionary<Ipv4Prefix, Lease> _known = [];
    private readonly HashSet<CorruptLease> _corruptSeen = [];

    /// <summary>Creates a watcher that ignores <paramref name="ownSubnet"/>.</summary>
    public LeaseWatcher(Ipv4Prefix ownSubnet, ILogger logger)
    {
        _ownSubnet = ownSubnet;
        _logger = logger;
    }

    /// <summary>Unreadable peer entries skipped so far (each distinct problem counted once).</summary>
    public long CorruptSkipped { get; private set; }

    /// <summary>The peers currently known, by subnet.</summary>
    public IReadOnlyDictionary<Ipv4Prefix, Lease> Peers => _known;

    /// <summary>Diffs <paramref name="snapshot"/> against the previous one; returns the events (possibly none).</summary>
    public IReadOnlyList<LeaseEvent> Update(LeaseSnapshot snapshot)
    {
        var events = new List<LeaseEvent>();
        var seen = new HashSet<Ipv4Prefix>();
        foreach (var lease in snapshot.Leases)
        {
            if (lease.Subnet == _ownSubnet)
                continue;
            seen.Add(lease.Subnet);
            if (!_known.TryGetValue(lease.Subnet, out var old))
                events.Add(new LeaseEvent(LeaseEventKind.Added, lease));
            else if (old.Attributes != lease.Attributes)
                events.Add(new LeaseEvent(LeaseEventKind.Changed, lease));
            _known[lease.Subnet] = lease;
        }
        foreach (var (subnet, lease) in _known.ToList())
        {
            if (seen.Contains(subnet))
                continue;
            _known.Remove(subnet);
            events.Add(new LeaseEvent(LeaseEventKind.Removed, lease));
        }
        foreach (var corrupt in snapshot.Corrupt)
        {
            if (corrupt.Subnet == _ownSubnet || !_corruptSeen.Add(corrupt))
                continue;
            CorruptSkipped++;
            _logger.LogWarning("Skipping unreadable lease {Key}: {Problem}", corrupt.Key, corrupt.Problem);
        }
        _corruptSeen.IntersectWith(snapshot.Corrupt);
        return events;
    }
}

using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// Turns successive store snapshots into batches of peer events, as flannel's <c>LeaseWatcher.Reset</c> diffs a
/// snapshot: new subnets are Added, vanished ones Removed, republished ones Changed; renewals alone (a new
/// expiry with the same attributes) are not events. Our own subnet is always skipped. Unreadable entries are
/// logged once each and counted, never thrown. With a <see cref="PeerLeasePolicy"/>, the diff runs over the leases
/// the policy accepts only: a refused lease never produces an Added event (so it is never routed nor a known peer),
/// a routed lease that turns bad is Removed, and a refused one that is fixed is Added. Each distinct refusal is
/// logged once (one warning, not one per snapshot). Not thread-safe: one watch loop owns it.
/// </summary>
internal sealed class LeaseWatcher
{
    private readonly Ipv4Prefix _ownSubnet;
    private readonly ILogger _logger;
    private readonly Dictionary<Ipv4Prefix, Lease> _known = [];
    private readonly HashSet<CorruptLease> _corruptSeen = [];
    private readonly PeerLeasePolicy? _policy;
    private HashSet<(Lease, string)> _refusedSeen = [];

    /// <summary>Creates a watcher that ignores <paramref name="ownSubnet"/> and, given a <paramref name="policy"/>, every lease it refuses.</summary>
    public LeaseWatcher(Ipv4Prefix ownSubnet, ILogger logger, PeerLeasePolicy? policy = null)
    {
        _ownSubnet = ownSubnet;
        _logger = logger;
        _policy = policy;
    }

    /// <summary>Peer leases refused by the policy so far (each distinct lease and reason counted once).</summary>
    public long RefusedLeases { get; private set; }

    /// <summary>The peer leases the policy refuses in the latest snapshot (expiry cleared), with the reason.</summary>
    public IReadOnlyCollection<(Lease Lease, string Reason)> Refused => _refusedSeen;

    /// <summary>Unreadable peer entries skipped so far (each distinct problem counted once).</summary>
    public long CorruptSkipped { get; private set; }

    /// <summary>The peers currently known, by subnet.</summary>
    public IReadOnlyDictionary<Ipv4Prefix, Lease> Peers => _known;

    /// <summary>Diffs <paramref name="snapshot"/> against the previous one; returns the events (possibly none).</summary>
    public IReadOnlyList<LeaseEvent> Update(LeaseSnapshot snapshot)
    {
        var events = new List<LeaseEvent>();
        var seen = new HashSet<Ipv4Prefix>();
        foreach (var lease in AcceptedPeers(snapshot))
        {
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

    private List<Lease> AcceptedPeers(LeaseSnapshot snapshot)
    {
        var peers = snapshot.Leases.Where(l => l.Subnet != _ownSubnet).ToList();
        if (_policy is null)
            return peers;
        var (accepted, refused) = _policy.Split(peers);
        // Keyed by subnet, attributes and reason (expiry stripped): a bad entry that stays bad, even renewed, is
        // logged once; a different problem with it, or its return after a fix, is logged again.
        var now = new HashSet<(Lease, string)>();
        foreach (var (lease, reason) in refused)
        {
            var key = (lease with { Expiration = null }, reason);
            now.Add(key);
            if (_refusedSeen.Contains(key))
                continue;
            RefusedLeases++;
            _logger.LogWarning("Ignoring peer lease {Subnet} (PublicIP {PublicIP}): {Reason}; it is not routed and its address is not a peer",
                lease.Subnet, lease.Attributes.PublicIP, reason);
        }
        _refusedSeen = now;
        return accepted;
    }
}

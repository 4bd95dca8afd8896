using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// The lease store seen by a node: flannel's etcd key space (<c>&lt;prefix&gt;/config</c>,
/// <c>&lt;prefix&gt;/subnets/A.B.C.D-LEN</c>) behind the operations flannel's <c>Registry</c> uses. Every
/// operation is atomic with respect to other nodes sharing the store. Implementations: the embedded
/// <see cref="DirectorySubnetRegistry"/>; etcd comes later.
/// </summary>
internal interface ISubnetRegistry
{
    /// <summary>Where the store lives, for messages (e.g. "lease dir /var/lib/dataplane").</summary>
    string Description { get; }

    /// <summary>Names the store's config entry in messages (e.g. "/var/lib/dataplane/config").</summary>
    string ConfigSource { get; }

    /// <summary>The raw network config text, or null when the store has none.</summary>
    string? GetNetworkConfig();

    /// <summary>The live (unexpired) leases and the unreadable entries.</summary>
    LeaseSnapshot List();

    /// <summary>
    /// Creates the lease only if no live lease holds <paramref name="subnet"/> (etcd: a Txn on Version==0).
    /// Returns the expiration, or null when the subnet is taken.
    /// </summary>
    DateTimeOffset? TryCreate(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl);

    /// <summary>
    /// Unconditionally stores <paramref name="attributes"/> for <paramref name="subnet"/> with a new TTL, or as a
    /// static lease when <paramref name="ttl"/> is null (flannel's <c>updateSubnet</c>). Returns the expiration.
    /// </summary>
    DateTimeOffset? Put(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl);

    /// <summary>
    /// Extends the lease on <paramref name="subnet"/> by <paramref name="ttl"/> if it still exists and is still
    /// published by <paramref name="owner"/>. Never races an expiry sweep: either the renewal lands first and
    /// the lease survives, or the sweep lands first and the outcome is <see cref="RenewOutcome.Gone"/>.
    /// </summary>
    RenewResult Renew(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl);

    /// <summary>Deletes the lease on <paramref name="subnet"/> (no-op when absent).</summary>
    void Delete(Ipv4Prefix subnet);

    /// <summary>
    /// Yields a snapshot now and then each time the set of live leases changes (additions, removals, value
    /// changes, renewals and expiries), until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    IAsyncEnumerable<LeaseSnapshot> WatchAsync(CancellationToken cancellationToken);
}

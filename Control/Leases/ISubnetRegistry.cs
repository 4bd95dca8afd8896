using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// The lease store seen by a node: flannel's etcd key space (<c>&lt;prefix&gt;/config</c>,
/// <c>&lt;prefix&gt;/subnets/A.B.C.D-LEN</c>) behind the operations flannel's <c>Registry</c> uses
/// (pkg/subnet/etcd/registry.go). Every operation is atomic with respect to other nodes sharing the store.
/// Implementations: the embedded <see cref="DirectorySubnetRegistry"/> and <see cref="EtcdSubnetRegistry"/>.
/// <para>Every operation is asynchronous and cancellable because a network store can stall for as long as the
/// network does: cancelling <c>cancellationToken</c> abandons the call with <see cref="OperationCanceledException"/>.
/// A store that cannot be reached throws <see cref="SubnetRegistryUnavailableException"/>, which callers treat as
/// transient (retry with back-off); every other failure is a <see cref="ControlException"/> meant for the operator.</para>
/// <para>The registry is created by <see cref="SubnetRegistryFactory"/> from the run options and injected into
/// the daemon; whoever created it disposes it.</para>
/// </summary>
internal interface ISubnetRegistry : IAsyncDisposable
{
    /// <summary>Where the store lives, for messages (e.g. "lease dir /var/lib/dataplane").</summary>
    string Description { get; }

    /// <summary>Names the store's config entry in messages (e.g. "/var/lib/dataplane/config").</summary>
    string ConfigSource { get; }

    /// <summary>
    /// The raw network config text, or null when the store has none. A network store may instead wait for the
    /// config to appear (flanneld's etcd manager retries each second until <c>&lt;prefix&gt;/config</c> exists).
    /// </summary>
    ValueTask<string?> GetNetworkConfigAsync(CancellationToken cancellationToken);

    /// <summary>The live (unexpired) leases and the unreadable entries.</summary>
    ValueTask<LeaseSnapshot> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Creates the lease only if no live lease holds <paramref name="subnet"/> (etcd: a Txn on Version==0).
    /// Returns the expiration, or null when the subnet is taken.
    /// </summary>
    ValueTask<DateTimeOffset?> TryCreateAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Unconditionally stores <paramref name="attributes"/> for <paramref name="subnet"/> with a new TTL, or as a
    /// static lease when <paramref name="ttl"/> is null (flannel's <c>updateSubnet</c>). Returns the expiration.
    /// </summary>
    ValueTask<DateTimeOffset?> PutAsync(Ipv4Prefix subnet, LeaseAttributes attributes, TimeSpan? ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Extends the lease on <paramref name="subnet"/> by <paramref name="ttl"/> if it still exists and is still
    /// published by <paramref name="owner"/>. Never races an expiry: either the renewal lands first and the lease
    /// survives, or the expiry lands first and the outcome is <see cref="RenewOutcome.Gone"/>.
    /// </summary>
    ValueTask<RenewResult> RenewAsync(Ipv4Prefix subnet, Ipv4Address owner, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Deletes the lease on <paramref name="subnet"/> (no-op when absent).</summary>
    ValueTask DeleteAsync(Ipv4Prefix subnet, CancellationToken cancellationToken);

    /// <summary>
    /// Yields a snapshot now and then each time the set of live leases changes (additions, removals, value
    /// changes, renewals and expiries), until <paramref name="cancellationToken"/> is cancelled. A store that
    /// becomes unreachable keeps the enumeration open (the caller keeps its last table), logs the outage once
    /// and yields a fresh snapshot when it is back.
    /// </summary>
    IAsyncEnumerable<LeaseSnapshot> WatchAsync(CancellationToken cancellationToken);
}

/// <summary>The store could not be reached (network, timeout, no leader): transient, worth retrying.</summary>
internal sealed class SubnetRegistryUnavailableException(string message, Exception? inner = null) : IOException(message, inner);

using Dataplane.Packets;

namespace Control.Leases;

/// <summary>One subnet lease: the subnet, what its holder published, and when it expires.</summary>
/// <param name="Subnet">The leased node subnet.</param>
/// <param name="Attributes">The stored value.</param>
/// <param name="Expiration">Absolute expiry; null for a static lease (a reservation: a key with no TTL).</param>
internal sealed record Lease(Ipv4Prefix Subnet, LeaseAttributes Attributes, DateTimeOffset? Expiration)
{
    /// <summary>True for a reservation, which never expires and is never renewed.</summary>
    public bool IsStatic => Expiration is null;
}

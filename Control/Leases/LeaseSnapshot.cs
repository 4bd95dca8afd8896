using Dataplane.Packets;

namespace Control.Leases;

/// <summary>The live leases of a store at one moment (expired ones excluded), plus the entries that could not be read.</summary>
/// <param name="Leases">Valid, unexpired leases, ordered by subnet.</param>
/// <param name="Corrupt">Unusable entries (they still block their subnet).</param>
internal sealed record LeaseSnapshot(IReadOnlyList<Lease> Leases, IReadOnlyList<CorruptLease> Corrupt)
{
    /// <summary>An empty store.</summary>
    public static LeaseSnapshot Empty { get; } = new([], []);

    /// <summary>The lease for exactly <paramref name="subnet"/>, if any.</summary>
    public Lease? Find(Ipv4Prefix subnet) => Leases.FirstOrDefault(l => l.Subnet == subnet);

    /// <summary>The first lease published by <paramref name="publicIp"/> (flannel's <c>findLeaseByIP</c>).</summary>
    public Lease? FindByPublicIp(Ipv4Address publicIp) => Leases.FirstOrDefault(l => l.Attributes.PublicIP == publicIp);

    /// <summary>Every subnet that is taken, by a valid or a corrupt entry.</summary>
    public IEnumerable<Ipv4Prefix> Occupied =>
        Leases.Select(l => l.Subnet).Concat(Corrupt.Where(c => c.Subnet is not null).Select(c => c.Subnet!.Value));
}

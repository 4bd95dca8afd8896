using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>An IPv4 address on an interface (RTM_NEWADDR): the address itself and its prefix length.</summary>
/// <param name="LinkIndex">Interface index.</param>
/// <param name="Address">The interface's own address (IFA_LOCAL).</param>
/// <param name="PrefixLength">Prefix length (10.244.1.0/32 → 32).</param>
/// <param name="Label">IFA_LABEL (the interface name or an alias label).</param>
public sealed record AddressInfo(int LinkIndex, Ipv4Address Address, int PrefixLength, string? Label)
{
    /// <summary>The network the address lies in.</summary>
    public Ipv4Prefix Network => new(Address, PrefixLength);

    /// <inheritdoc/>
    public override string ToString() => $"{Address}/{PrefixLength} (link {LinkIndex})";
}

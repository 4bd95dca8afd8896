using Dataplane.Packets;

namespace Control.Config;

/// <summary>
/// A validated flannel network config (the etcd key <c>&lt;prefix&gt;/config</c>, net-conf.json) with
/// <c>CheckNetworkConfig</c>'s defaults applied, so two configs that mean the same compare equal.
/// </summary>
/// <param name="Network">The whole overlay network (FLANNEL_NETWORK).</param>
/// <param name="SubnetLen">Prefix length of each node's subnet.</param>
/// <param name="SubnetMin">First subnet address handed out (by default the second subnet: the first is skipped).</param>
/// <param name="SubnetMax">Last subnet address handed out.</param>
/// <param name="Backend">The backend section.</param>
internal sealed record NetworkConfig(Ipv4Prefix Network, int SubnetLen, Ipv4Address SubnetMin, Ipv4Address SubnetMax, BackendConfig Backend)
{
    /// <summary>Number of addresses in one node subnet.</summary>
    public uint SubnetSize => 1u << (32 - SubnetLen);

    /// <summary>
    /// flannel's <c>isSubnetConfigCompat</c>: the subnet lies between SubnetMin and SubnetMax and has SubnetLen.
    /// A lease failing this is not reused.
    /// </summary>
    public bool IsCompatible(Ipv4Prefix subnet) =>
        subnet.Length == SubnetLen && subnet.Address.Value >= SubnetMin.Value && subnet.Address.Value <= SubnetMax.Value;
}

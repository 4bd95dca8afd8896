namespace Dataplane.Tun.Netlink;

/// <summary>
/// What the daemon needs to know about its external interface: name, index, MTU (jumbo frames
/// included) and IPv4 addresses in kernel order (the first is what flannel's
/// <c>GetInterfaceIP4Addr</c> picks).
/// </summary>
/// <param name="Link">The interface.</param>
/// <param name="Addresses">Its IPv4 addresses; never empty (see <see cref="RtNetlink.DescribeInterface"/>).</param>
public sealed record InterfaceInfo(LinkInfo Link, IReadOnlyList<AddressInfo> Addresses)
{
    /// <summary>Interface name.</summary>
    public string Name => Link.Name;

    /// <summary>MTU.</summary>
    public int Mtu => Link.Mtu;
}

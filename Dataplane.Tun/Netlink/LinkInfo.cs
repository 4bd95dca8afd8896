using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>A network interface as rtnetlink reports it (RTM_NEWLINK).</summary>
/// <param name="Index">Interface index (unique within its namespace).</param>
/// <param name="Name">Interface name.</param>
/// <param name="Mtu">MTU in bytes.</param>
/// <param name="Flags">IFF_* flags (IFF_UP = 0x1, IFF_RUNNING = 0x40, IFF_LOWER_UP = 0x10000).</param>
/// <param name="Kind">IFLA_INFO_KIND ("vxlan", "veth", "tun", …), or null for devices without one.</param>
/// <param name="Mac">Hardware address, when the device has a 6-byte one (none for a TUN).</param>
/// <param name="Vxlan">VXLAN settings when <paramref name="Kind"/> is "vxlan".</param>
public sealed record LinkInfo(int Index, string Name, int Mtu, uint Flags, string? Kind, MacAddress? Mac, VxlanInfo? Vxlan)
{
    /// <summary>IFF_UP: administratively up.</summary>
    public bool IsUp => (Flags & 0x1) != 0;
}

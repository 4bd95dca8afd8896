using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// A kernel VXLAN device to create, shaped like flanneld's <c>flannel.&lt;VNI&gt;</c>
/// (pkg/backend/vxlan/device.go <c>newVXLANDevice</c>; reference flannel.md §2.2).
/// </summary>
public sealed record VxlanLinkOptions
{
    /// <summary>Device name, e.g. <c>flannel.1</c>.</summary>
    public required string Name { get; init; }

    /// <summary>VNI (flannel default 1).</summary>
    public uint Vni { get; init; } = 1;

    /// <summary>Local underlay address (IFLA_VXLAN_LOCAL); flannel sets the external address.</summary>
    public Ipv4Address? Local { get; init; }

    /// <summary>Underlay device index (IFLA_VXLAN_LINK); flannel sets the external interface.</summary>
    public int? UnderlayLinkIndex { get; init; }

    /// <summary>Destination UDP port; null sends no attribute, so the kernel uses 8472 (as flannel with Port 0).</summary>
    public ushort? Port { get; init; }

    /// <summary>Learning (flannel: false).</summary>
    public bool Learning { get; init; }

    /// <summary>IFLA_VXLAN_UDP_CSUM; null sends no attribute (flannel), so the kernel computes the checksum.</summary>
    public bool? UdpChecksum { get; init; }

    /// <summary>MTU; null leaves the kernel's choice (lower device − 50).</summary>
    public int? Mtu { get; init; }

    /// <summary>Device MAC (flannel: a stable locally administered one); null lets the kernel pick a random one.</summary>
    public MacAddress? Mac { get; init; }
}

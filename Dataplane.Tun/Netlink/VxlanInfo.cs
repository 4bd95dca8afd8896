using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// Settings of a kernel VXLAN device (IFLA_INFO_DATA of kind "vxlan"): what flanneld compares in
/// <c>vxlanLinksIncompat</c> and what <see cref="RtNetlink.CreateVxlan"/> sets.
/// </summary>
/// <param name="Vni">VXLAN network identifier (flannel: 1).</param>
/// <param name="Local">Local (source) underlay address, if set.</param>
/// <param name="Port">Destination UDP port (0 = the kernel's 8472 default).</param>
/// <param name="UnderlayLinkIndex">IFLA_VXLAN_LINK: the device the tunnel sends through, or 0.</param>
/// <param name="Learning">Source-address learning (flannel: off).</param>
/// <param name="UdpChecksum">Outer UDP checksum on transmit (IFLA_VXLAN_UDP_CSUM; the kernel default is on).</param>
public sealed record VxlanInfo(uint Vni, Ipv4Address? Local, ushort Port, int UnderlayLinkIndex, bool Learning, bool UdpChecksum);

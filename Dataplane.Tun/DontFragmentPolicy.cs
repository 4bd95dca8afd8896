namespace Dataplane.Tun;

/// <summary>
/// What the outer IPv4 DF bit of our datagrams is, set through IP_MTU_DISCOVER (ip(7)).
/// </summary>
/// <remarks>
/// A new AF_INET socket starts with IP_PMTUDISC_WANT unless the sysctl
/// <c>net.ipv4.ip_no_pmtu_disc</c> is set (inet_create). With WANT the kernel puts DF on every datagram
/// that fits the route's MTU and fragments (without DF) one that does not (__ip_make_skb). Go's
/// <c>net.ListenUDP</c> sets no IP_MTU_DISCOVER (only SO_BROADCAST), so flannel's udp backend sends
/// its datagrams with DF SET (they always fit: the TUN MTU is the external MTU − 28). The kernel's
/// VXLAN device sends with DF CLEAR (vxlan_xmit_one: df = 0 unless IFLA_VXLAN_DF).
/// </remarks>
public enum DontFragmentPolicy
{
    /// <summary>
    /// IP_PMTUDISC_DONT: DF never set; a datagram larger than the path MTU is fragmented by the kernel
    /// or by routers on the way, as kernel VXLAN does.
    /// </summary>
    Clear,

    /// <summary>
    /// Leave the kernel default (IP_PMTUDISC_WANT unless ip_no_pmtu_disc=1): DF set on datagrams that fit
    /// the route MTU, exactly what flannel's udp backend socket puts on the wire.
    /// </summary>
    KernelDefault,

    /// <summary>IP_PMTUDISC_DO: DF always set; a send larger than the known path MTU fails with EMSGSIZE.</summary>
    Set,
}

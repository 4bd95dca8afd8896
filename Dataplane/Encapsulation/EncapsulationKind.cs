namespace Dataplane.Encapsulation;

/// <summary>The wire format used towards a peer.</summary>
public enum EncapsulationKind : byte
{
    /// <summary>flannel's udp backend: the bare IPv4 packet is the UDP payload (default port 8285).</summary>
    FlannelUdp = 0,
    /// <summary>VXLAN as the Linux kernel's flannel.1 sends it (RFC 7348, default port 8472).</summary>
    Vxlan = 1,
    /// <summary>
    /// No encapsulation: the kernel routes the peer's subnet via the peer's PublicIP (flannel's host-gw backend, and
    /// vxlan DirectRouting for on-link peers). No packet for such a peer passes through the pumps.
    /// </summary>
    Routed = 2,
}

namespace Control.Config;

/// <summary>The flannel backends we implement.</summary>
internal enum BackendType
{
    /// <summary>flannel's udp backend (TUN flannel0, raw IPv4 in UDP, default port 8285).</summary>
    Udp,
    /// <summary>flannel's vxlan backend (kernel flannel.1, default port 8472).</summary>
    Vxlan,
    /// <summary>flannel's host-gw backend: a kernel route per peer subnet via the peer's PublicIP; no device, no encapsulation.</summary>
    HostGw,
}

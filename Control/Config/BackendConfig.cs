namespace Control.Config;

/// <summary>
/// The <c>Backend</c> object of flannel's network config, with flannel's defaults applied:
/// udp <c>Port</c> 8285 (pkg/backend/udp), vxlan <c>Port</c> 8472 (the kernel default flannel keeps when 0)
/// and <c>VNI</c> 1 (pkg/backend/vxlan <c>VXLANConfig</c>).
/// </summary>
/// <param name="Type">udp, vxlan or host-gw.</param>
/// <param name="Port">UDP port of the backend.</param>
/// <param name="Vni">VXLAN network identifier (vxlan only; 1 otherwise).</param>
/// <param name="Mtu">Backend.MTU: replaces the external interface MTU in the FLANNEL_MTU formula; null when absent.</param>
internal sealed record BackendConfig(BackendType Type, ushort Port, uint Vni, int? Mtu)
{
    /// <summary>
    /// vxlan's <c>DirectRouting</c> (pkg/backend/vxlan): peers whose PublicIP is on-link get a plain route instead of the
    /// VTEP. False for the other backends.
    /// </summary>
    public bool DirectRouting { get; init; }

    /// <summary>flannel's udp backend default port.</summary>
    public const ushort DefaultUdpPort = 8285;

    /// <summary>The Linux kernel's VXLAN port, which flannel's vxlan backend uses by default.</summary>
    public const ushort DefaultVxlanPort = 8472;

    /// <summary>
    /// Encapsulation overhead subtracted from the MTU: IPv4 20 + UDP 8 for udp; plus VXLAN 8 and inner Ethernet 14 for
    /// vxlan; none for host-gw (plain routing).
    /// </summary>
    public int Overhead => Type switch
    {
        BackendType.Udp => 28,
        BackendType.Vxlan => 50,
        _ => 0,
    };

    /// <summary>The backend of a config with no <c>Backend</c> key: udp (flannel's <c>parseBackendType</c>).</summary>
    public static BackendConfig DefaultUdp { get; } = new(BackendType.Udp, DefaultUdpPort, 1, null);

    /// <summary>Type name as flannel spells it.</summary>
    public string TypeName => Type switch
    {
        BackendType.Udp => "udp",
        BackendType.Vxlan => "vxlan",
        _ => "host-gw",
    };

    /// <summary>
    /// FLANNEL_MTU: (Backend.MTU or the external MTU) minus the encapsulation overhead. host-gw takes the external
    /// interface's MTU as it is (pkg/backend/hostgw/hostgw.go: <c>Mtu: be.extIface.Iface.MTU</c>; its config has no MTU).
    /// </summary>
    public int OverlayMtu(int externalMtu) => Type == BackendType.HostGw ? externalMtu : (Mtu ?? externalMtu) - Overhead;
}

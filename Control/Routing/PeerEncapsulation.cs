using Control.Config;

namespace Control.Routing;

/// <summary>
/// How to reach peers, per their lease's BackendType (checklist item 17): "vxlan" peers get VXLAN to
/// PublicIP:<see cref="VxlanPort"/>, every other peer (udp leases have no BackendType) gets flannel-udp to
/// PublicIP:<see cref="UdpPort"/>. The configured <c>Backend.Port</c> applies to our own backend's type (all
/// nodes of a flannel cluster share one port: the sender uses its own configured port); the other type keeps
/// its flannel default.
/// </summary>
/// <param name="UdpPort">Destination port for flannel-udp peers.</param>
/// <param name="VxlanPort">Destination port for VXLAN peers.</param>
/// <param name="LocalVni">VNI used for a vxlan peer whose lease carries none (pre-v0.11 leases).</param>
/// <param name="OnlyBackendType">When set, leases of any other BackendType are ignored (flanneld's host-gw,
/// pkg/backend/route_network.go <c>handleSubnetEvents</c>: "Ignoring non-host-gw subnet: type=…").</param>
internal sealed record PeerEncapsulation(ushort UdpPort, ushort VxlanPort, uint LocalVni, string? OnlyBackendType = null)
{
    /// <summary>The policy for a node configured with <paramref name="backend"/>.</summary>
    public static PeerEncapsulation For(BackendConfig backend) => backend.Type switch
    {
        BackendType.Udp => new(backend.Port, BackendConfig.DefaultVxlanPort, 1),
        BackendType.Vxlan => new(BackendConfig.DefaultUdpPort, backend.Port, backend.Vni),
        _ => new(BackendConfig.DefaultUdpPort, BackendConfig.DefaultVxlanPort, 1, Leases.LeaseAttributes.HostGwType),
    };
}

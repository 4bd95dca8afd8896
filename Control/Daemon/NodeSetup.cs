using Control.Config;
using Control.Interfaces;
using Control.Leases;
using Dataplane.Packets;

namespace Control.Daemon;

/// <summary>The state of a node once its lease is held and subnet.env is written.</summary>
/// <param name="Registry">The lease store.</param>
/// <param name="Interface">The external interface.</param>
/// <param name="Config">The network config.</param>
/// <param name="Lease">Our lease.</param>
/// <param name="OverlayMtu">FLANNEL_MTU.</param>
/// <param name="VtepMac">Our VTEP MAC (vxlan only).</param>
internal sealed record NodeSetup(ISubnetRegistry Registry, ExternalInterface Interface, NetworkConfig Config, Lease Lease, int OverlayMtu, MacAddress? VtepMac)
{
    /// <summary>The BackendType our lease carried before this start ("" for udp), or null when we held none: a changed backend.</summary>
    public string? PreviousBackendType { get; init; }
}

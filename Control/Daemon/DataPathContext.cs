using Control.Config;
using Control.Interfaces;
using Control.Leases;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>Everything a data path needs to start, known once the lease is held (subnet.env is written after the start).</summary>
/// <param name="Interface">The external interface (bind to IfaceAddr; publish ExtAddr).</param>
/// <param name="Config">The validated network config (Backend.Type, Port, VNI).</param>
/// <param name="Lease">Our own lease (our subnet; our overlay address is its .0).</param>
/// <param name="OverlayMtu">FLANNEL_MTU: the MTU for flannel0/flannel.1.</param>
/// <param name="VtepMac">Our VTEP MAC for vxlan (as published in the lease, stable across restarts); null for udp.</param>
/// <param name="Io">The I/O mode requested with --io.</param>
/// <param name="Loggers">Logger factory.</param>
internal sealed record DataPathContext(
    ExternalInterface Interface,
    NetworkConfig Config,
    Lease Lease,
    int OverlayMtu,
    MacAddress? VtepMac,
    IoMode Io,
    ILoggerFactory Loggers)
{
    /// <summary>The BackendType our lease carried before this start ("" for udp); null when we held no lease.</summary>
    public string? PreviousBackendType { get; init; }
}

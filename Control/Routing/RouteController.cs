using Control.Leases;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Routing;

/// <summary>
/// Turns batches of peer lease events into batches of <see cref="RouteUpdate"/> for the forwarding table, as
/// flannel's udp backend maps EventAdded → setRoute and EventRemoved → removeRoute. Each event batch becomes
/// exactly one call of the sink (none when it yields no update), so the table can apply it atomically.
/// A vxlan lease whose BackendData is unusable is skipped with a log line and counted (real vxlan nodes do the
/// same: "error decoding subnet lease JSON"); if it replaced a usable lease, the stale route is removed.
/// Not thread-safe: called from the one watch loop.
/// </summary>
internal sealed class RouteController
{
    private readonly PeerEncapsulation _encapsulation;
    private readonly Action<ReadOnlySpan<RouteUpdate>> _sink;
    private readonly ILogger _logger;
    private readonly List<RouteUpdate> _batch = [];

    /// <summary>Creates a controller feeding <paramref name="sink"/> (e.g. <c>ForwardingTable.Apply</c>).</summary>
    public RouteController(PeerEncapsulation encapsulation, Action<ReadOnlySpan<RouteUpdate>> sink, ILogger logger)
    {
        _encapsulation = encapsulation;
        _sink = sink;
        _logger = logger;
    }

    /// <summary>Peer leases skipped because no next hop could be built from them.</summary>
    public long SkippedLeases { get; private set; }

    /// <summary>Translates and forwards one batch of events.</summary>
    public void Apply(IReadOnlyList<LeaseEvent> events)
    {
        _batch.Clear();
        foreach (var e in events)
        {
            if (_encapsulation.OnlyBackendType is { } only && !string.Equals(e.Lease.Attributes.BackendType, only, StringComparison.Ordinal))
            {
                // flanneld's host-gw ignores such leases outright (route_network.go); a lease that changed away from
                // host-gw loses its route here (flanneld would keep the stale one until it restarts).
                _logger.LogWarning("Ignoring non-{Only} subnet: type={Type}", only, e.Lease.Attributes.BackendType ?? "");
                if (e.Kind == LeaseEventKind.Changed)
                    _batch.Add(RouteUpdate.Remove(e.Lease.Subnet));
                continue;
            }
            if (e.Kind == LeaseEventKind.Removed)
            {
                _batch.Add(RouteUpdate.Remove(e.Lease.Subnet));
                continue;
            }
            if (TryMakeNextHop(e.Lease.Attributes, _encapsulation, out var hop, out var error))
            {
                _batch.Add(RouteUpdate.Upsert(e.Lease.Subnet, hop));
                continue;
            }
            SkippedLeases++;
            _logger.LogWarning("Ignoring lease {Subnet} from {PublicIP}: {Problem}", e.Lease.Subnet, e.Lease.Attributes.PublicIP, error);
            if (e.Kind == LeaseEventKind.Changed)
                _batch.Add(RouteUpdate.Remove(e.Lease.Subnet));
        }
        if (_batch.Count == 0)
            return;
        foreach (var u in _batch)
        {
            _logger.LogDebug("Route {Kind} {Destination} via {Endpoint} {Encapsulation}",
                u.Kind, u.Destination, u.NextHop.Endpoint, u.NextHop.Encapsulation);
        }
        _sink(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_batch));
    }

    /// <summary>The next hop for a peer with <paramref name="attributes"/>; false with the reason when it has none.</summary>
    public static bool TryMakeNextHop(LeaseAttributes attributes, PeerEncapsulation encapsulation, out NextHop hop, out string? error)
    {
        hop = default;
        if (attributes.IsHostGw)
        {
            // host-gw: a kernel route `subnet via PublicIP` (pkg/backend/hostgw GetRoute); the port is meaningless.
            hop = new NextHop(new UnderlayEndpoint(attributes.PublicIP, 0), EncapsulationKind.Routed);
            error = null;
            return true;
        }
        if (!attributes.IsVxlan)
        {
            hop = new NextHop(new UnderlayEndpoint(attributes.PublicIP, encapsulation.UdpPort), EncapsulationKind.FlannelUdp);
            error = null;
            return true;
        }
        if (!VxlanBackendData.TryParse(attributes.BackendData, out var data, out error))
            return false;
        // Linux peers use their own device VNI and ignore the lease's (reference §3); we prefer the peer's
        // published VNI, which is the one its device accepts, and fall back to ours for old leases without one.
        uint vni = data.Vni != 0 ? data.Vni : encapsulation.LocalVni;
        hop = new NextHop(new UnderlayEndpoint(attributes.PublicIP, encapsulation.VxlanPort), EncapsulationKind.Vxlan, data.VtepMac, vni);
        return true;
    }
}

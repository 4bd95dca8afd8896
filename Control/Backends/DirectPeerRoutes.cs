using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Backends;

/// <summary>
/// Peers reached without encapsulation next to a TUN data path: flanneld's vxlan <c>DirectRouting</c> (pkg/backend/vxlan
/// vxlan_network.go <c>handleSubnetEvents</c>, flannel-io/flannel at cdf76059), and host-gw peers of a udp or vxlan node
/// (beyond flanneld, which ignores leases of another type). A peer whose PublicIP the kernel reaches with exactly one
/// route and no gateway (flannel's <c>ip.DirectRouting</c>, pkg/ip/iface.go) gets the route
/// <c>&lt;subnet&gt; via &lt;PublicIP&gt; dev &lt;ext&gt;</c>; the others are served by the forwarding table (VXLAN or
/// flannel-udp through our process).
/// </summary>
/// <remarks>
/// <para>The forwarding table keeps every peer's encapsulated next hop either way: the more specific kernel route takes
/// on-link peers' traffic before it reaches the TUN, and if that route is ever missing (refused, deleted before the
/// watchdog puts it back) the packets fall back to the VTEP, which a real flannel.1 also accepts, instead of being lost.
/// A host-gw peer has no encapsulated next hop: off-link, it is unreachable, as it would be for flanneld's host-gw.</para>
/// <para>A peer moving between the two (its lease republished with another PublicIP) is looked up again on that event:
/// on-link → the kernel route is set (replacing the VTEP path), off-link → it is removed and the table's VXLAN hop takes
/// over. As in flanneld, reachability is evaluated on lease events, not on every routing change of the node.</para>
/// <para>Threading: <see cref="Apply"/> runs on the daemon's watch loop only.</para>
/// </remarks>
internal sealed class DirectPeerRoutes : IDisposable
{
    private readonly bool _directRouting;
    private readonly ILogger _logger;
    private readonly RtNetlink _rtnl = new();
    private readonly KernelPeerRoutes _routes;

    /// <summary>Routes through the external interface <paramref name="externalInterface"/>.</summary>
    /// <param name="externalInterface">The interface overlay traffic leaves by.</param>
    /// <param name="directRouting">vxlan's DirectRouting: on-link vxlan peers get a kernel route.</param>
    /// <param name="logger">Logger.</param>
    /// <param name="fatal">Called on the watchdog thread when the daemon must exit.</param>
    public DirectPeerRoutes(string externalInterface, bool directRouting, ILogger logger, Action<string> fatal)
    {
        _directRouting = directRouting;
        _logger = logger;
        var link = _rtnl.GetLink(externalInterface);
        _routes = new KernelPeerRoutes(link.Index, link.Name, logger, fatal);
    }

    /// <summary>The kernel routes kept (tests, diagnostics).</summary>
    public KernelPeerRoutes Routes => _routes;

    /// <summary>flanneld's <c>ip.DirectRouting</c>: exactly one route to <paramref name="publicIp"/>, without a gateway.</summary>
    public bool IsDirectlyReachable(Ipv4Address publicIp)
    {
        try
        {
            var routes = _rtnl.GetRoute(publicIp);
            return routes.Count == 1 && routes[0].Gateway is null;
        }
        catch (PlatformException e)
        {
            _logger.LogError("couldn't lookup route to {PublicIP}: {Error}", publicIp, e.Message);
            return false;
        }
    }

    /// <summary>Follows one batch of forwarding-table updates (the same batch the table gets).</summary>
    public void Apply(ReadOnlySpan<RouteUpdate> batch)
    {
        foreach (var u in batch)
        {
            var hop = u.NextHop;
            bool wanted = u.Kind == RouteUpdateKind.Upsert
                && (hop.Encapsulation == EncapsulationKind.Routed || (_directRouting && hop.Encapsulation == EncapsulationKind.Vxlan));
            if (wanted && IsDirectlyReachable(hop.Endpoint.Address))
            {
                _logger.LogInformation("Adding direct route to subnet: {Subnet} PublicIP: {PublicIP}", u.Destination, hop.Endpoint.Address);
                _routes.Set(u.Destination, hop.Endpoint.Address);
                continue;
            }
            if (wanted && hop.Encapsulation == EncapsulationKind.Routed)
                _logger.LogError("Error adding route to {Subnet} via {PublicIP}: a host-gw peer must be on-link (no route without a gateway reaches it)", u.Destination, hop.Endpoint.Address);
            if (_routes.Contains(u.Destination))
            {
                _logger.LogInformation("Removing direct route to subnet: {Subnet}{Why}", u.Destination,
                    u.Kind == RouteUpdateKind.Upsert ? $" (PublicIP {hop.Endpoint.Address} is not on-link now: {hop.Encapsulation} through us)" : "");
                _routes.Remove(u.Destination);
            }
        }
    }

    /// <summary>Stops the watchdog; the routes stay (flanneld leaves them on exit).</summary>
    public void Dispose()
    {
        _routes.Dispose();
        _rtnl.Dispose();
    }
}

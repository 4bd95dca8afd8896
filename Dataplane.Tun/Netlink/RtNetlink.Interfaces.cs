using Dataplane.Tun.Interop;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>
    /// The interface of the default route in the main table (lowest metric wins), as flannel's
    /// <c>ip.GetDefaultGatewayInterface</c> picks its external interface when <c>--iface</c> is not given.
    /// </summary>
    /// <returns>Null when there is no default route with an output device.</returns>
    public LinkInfo? GetDefaultRouteLink()
    {
        RouteInfo? best = null;
        foreach (var route in ListRoutes())
            if (route.Destination.Length == 0 && route.Type == RouteType.Unicast && route.LinkIndex is not null
                && (best is null || (route.Metric ?? 0) < (best.Metric ?? 0)))
                best = route;
        return best?.LinkIndex is int index ? TryGetLink(index) : null;
    }

    /// <summary>
    /// Name, MTU and IPv4 addresses of <paramref name="name"/>, or of the default-route interface when
    /// <paramref name="name"/> is null.
    /// </summary>
    /// <exception cref="PlatformException">
    /// No such interface (ENODEV), no default route (ENETUNREACH: "pass --iface"), or the interface has no
    /// IPv4 address (EADDRNOTAVAIL).
    /// </exception>
    public InterfaceInfo DescribeInterface(string? name = null)
    {
        var link = name is null
            ? GetDefaultRouteLink() ?? throw Errno.Exception(Errno.ENETUNREACH, "RTM_GETROUTE", "default-route interface",
                "there is no IPv4 default route; name the external interface explicitly")
            : GetLink(name);
        var addresses = ListAddresses(link.Index);
        if (addresses.Count == 0)
            throw Errno.Exception(Errno.EADDRNOTAVAIL, "RTM_GETADDR", $"interface {link.Name}", "it has no IPv4 address");
        return new InterfaceInfo(link, addresses);
    }
}

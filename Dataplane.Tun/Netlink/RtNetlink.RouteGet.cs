using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>
    /// The route the kernel would use to reach <paramref name="destination"/> (<c>ip route get</c>: RTM_GETROUTE for a
    /// /32, not a dump). flannel's <c>ip.DirectRouting</c> (pkg/ip/iface.go) calls the destination directly reachable
    /// when this yields exactly one route and it has no gateway.
    /// </summary>
    /// <exception cref="PlatformException">ENETUNREACH when no route covers the destination.</exception>
    public IReadOnlyList<RouteInfo> GetRoute(Ipv4Address destination)
    {
        var m = Ack(Nl.RTM_GETROUTE);
        var s = m.Append(Nl.RtMsgLength);
        s[0] = Interop.Libc.AF_INET;
        s[1] = 32;
        m.Ipv4(Nl.RTA_DST, destination);
        var result = new List<RouteInfo>();
        foreach (var reply in Request(m, $"get route to {destination}"))
            if (reply.Type == Nl.RTM_NEWROUTE && RtNetlinkParser.Route(reply.Payload) is { } r)
                result.Add(r);
        return result;
    }
}

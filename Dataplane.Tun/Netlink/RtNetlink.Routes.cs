using System.Runtime.InteropServices;

namespace Dataplane.Tun.Netlink;

public sealed partial class RtNetlink
{
    /// <summary>Adds a route; fails if an equal one exists.</summary>
    /// <exception cref="PlatformException">EEXIST ("add route 10.244.0.0/16 dev flannel0: File exists"), ENODEV, ENETUNREACH for an unreachable gateway.</exception>
    public void AddRoute(RouteInfo route) =>
        Request(RouteMessage(Nl.RTM_NEWROUTE, Nl.F_CREATE | Nl.F_EXCL, route, delete: false), $"add route {RouteText(route)}");

    /// <summary>Adds the route or replaces the one with the same destination, table, TOS and metric (<c>ip route replace</c>).</summary>
    public void ReplaceRoute(RouteInfo route) =>
        Request(RouteMessage(Nl.RTM_NEWROUTE, Nl.F_CREATE | Nl.F_REPLACE, route, delete: false), $"replace route {RouteText(route)}");

    /// <summary>
    /// Deletes the route matching <paramref name="route"/>'s destination, table and type (and device,
    /// gateway and metric when given).
    /// </summary>
    /// <exception cref="PlatformException">ESRCH when no route matches.</exception>
    public void DeleteRoute(RouteInfo route) =>
        Request(RouteMessage(Nl.RTM_DELROUTE, 0, route, delete: true), $"delete route {RouteText(route)}");

    /// <summary>IPv4 routes of one table (default main), or of all tables when <paramref name="table"/> is null.</summary>
    public IReadOnlyList<RouteInfo> ListRoutes(int? table = Nl.RT_TABLE_MAIN)
    {
        var m = Dump(Nl.RTM_GETROUTE);
        var s = m.Append(Nl.RtMsgLength);
        s[0] = Interop.Libc.AF_INET;
        var result = new List<RouteInfo>();
        foreach (var reply in Request(m, "list routes"))
            if (reply.Type == Nl.RTM_NEWROUTE && RtNetlinkParser.Route(reply.Payload) is { } r && (table is null || r.Table == table))
                result.Add(r);
        return result;
    }

    private static NetlinkMessageBuilder RouteMessage(ushort type, ushort flags, RouteInfo route, bool delete)
    {
        ArgumentNullException.ThrowIfNull(route);
        var m = Ack(type, flags);
        var s = m.Append(Nl.RtMsgLength);
        s[0] = Interop.Libc.AF_INET;
        s[1] = (byte)route.Destination.Length;
        s[4] = route.Table < 256 ? (byte)route.Table : (byte)0; // RT_TABLE_UNSPEC + RTA_TABLE for big ids
        s[5] = delete ? (byte)0 : route.Protocol;
        // A delete with RT_SCOPE_NOWHERE matches a route of any scope (fib_table_delete).
        s[6] = delete ? (byte)RouteScope.Nowhere : (byte)route.Scope;
        s[7] = (byte)route.Type;
        MemoryMarshal.Write(s[8..], route.OnLink ? Nl.RTNH_F_ONLINK : 0u);
        if (route.Destination.Length > 0)
            m.Ipv4(Nl.RTA_DST, route.Destination.Address);
        if (route.Table >= 256)
            m.U32(Nl.RTA_TABLE, (uint)route.Table);
        if (route.LinkIndex is int oif)
            m.U32(Nl.RTA_OIF, (uint)oif);
        if (route.Gateway is { } gw)
            m.Ipv4(Nl.RTA_GATEWAY, gw);
        if (route.Metric is uint metric)
            m.U32(Nl.RTA_PRIORITY, metric);
        if (route.PreferredSource is { } src)
            m.Ipv4(Nl.RTA_PREFSRC, src);
        return m;
    }

    private string RouteText(RouteInfo route) =>
        route.Describe(route.LinkIndex is null ? null : DeviceText(route.LinkIndex)[5..]);
}

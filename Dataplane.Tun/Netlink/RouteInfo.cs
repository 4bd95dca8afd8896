using Dataplane.Packets;

namespace Dataplane.Tun.Netlink;

/// <summary>
/// An IPv4 route, both as listed (RTM_NEWROUTE dump) and as given to add/replace/delete. The defaults
/// describe flannel's udp-backend route: type unicast, scope universe, main table, protocol boot.
/// </summary>
public sealed record RouteInfo
{
    /// <summary>Destination network (0.0.0.0/0 for the default route).</summary>
    public required Ipv4Prefix Destination { get; init; }

    /// <summary>Route type: unicast, or blackhole/unreachable/prohibit (no device, no gateway).</summary>
    public RouteType Type { get; init; } = RouteType.Unicast;

    /// <summary>Output device index (RTA_OIF), or null.</summary>
    public int? LinkIndex { get; init; }

    /// <summary>Gateway (RTA_GATEWAY), or null for a direct route.</summary>
    public Ipv4Address? Gateway { get; init; }

    /// <summary>RTNH_F_ONLINK: the gateway is on the link even without a covering address (VXLAN peers: <c>via 10.244.2.0 onlink</c>).</summary>
    public bool OnLink { get; init; }

    /// <summary>Scope (RT_SCOPE_*).</summary>
    public RouteScope Scope { get; init; } = RouteScope.Universe;

    /// <summary>Routing table (254 = main).</summary>
    public int Table { get; init; } = 254;

    /// <summary>rtm_protocol: who installed it (2 kernel, 3 boot, 4 static).</summary>
    public byte Protocol { get; init; } = 3;

    /// <summary>Metric (RTA_PRIORITY), or null (0).</summary>
    public uint? Metric { get; init; }

    /// <summary>Preferred source address (RTA_PREFSRC), or null.</summary>
    public Ipv4Address? PreferredSource { get; init; }

    /// <inheritdoc/>
    public override string ToString() => Describe(LinkIndex is { } i ? $"#{i}" : null);

    /// <summary>The route in <c>ip route</c> words, with the device shown as <paramref name="device"/>.</summary>
    internal string Describe(string? device)
    {
        var text = Type switch
        {
            RouteType.Blackhole => $"blackhole {Destination}",
            RouteType.Unreachable => $"unreachable {Destination}",
            RouteType.Prohibit => $"prohibit {Destination}",
            _ => Destination.ToString(),
        };
        if (Gateway is { } gw)
            text += $" via {gw}";
        if (device is not null)
            text += $" dev {device}";
        if (OnLink)
            text += " onlink";
        if (Table != 254)
            text += $" table {Table}";
        return text;
    }
}

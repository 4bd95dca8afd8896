namespace Dataplane.Tun.Netlink;

/// <summary>What a <see cref="NetlinkChange"/> reports.</summary>
public enum NetlinkChangeKind
{
    /// <summary>RTM_NEWLINK: a link appeared or changed (flags, MTU…).</summary>
    LinkChanged,
    /// <summary>RTM_DELLINK: a link was deleted.</summary>
    LinkDeleted,
    /// <summary>RTM_NEWROUTE.</summary>
    RouteAdded,
    /// <summary>RTM_DELROUTE (also sent for each route that disappears with its device).</summary>
    RouteDeleted,
    /// <summary>RTM_NEWADDR.</summary>
    AddressAdded,
    /// <summary>RTM_DELADDR.</summary>
    AddressDeleted,
    /// <summary>The kernel dropped notifications (ENOBUFS): re-read the state you care about.</summary>
    Overrun,
}

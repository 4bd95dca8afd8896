namespace Dataplane.Tun.Netlink;

/// <summary>rtm_type values (RTN_*) that matter here.</summary>
public enum RouteType : byte
{
    /// <summary>RTN_UNSPEC (matches any type on delete).</summary>
    Unspecified = 0,
    /// <summary>RTN_UNICAST: a gateway or direct route.</summary>
    Unicast = 1,
    /// <summary>RTN_LOCAL: an address of this host (local table).</summary>
    Local = 2,
    /// <summary>RTN_BROADCAST.</summary>
    Broadcast = 3,
    /// <summary>RTN_BLACKHOLE: silently discarded (sendto gets EINVAL for local senders).</summary>
    Blackhole = 6,
    /// <summary>RTN_UNREACHABLE: discarded with ICMP host unreachable; local senders get EHOSTUNREACH.</summary>
    Unreachable = 7,
    /// <summary>RTN_PROHIBIT: discarded with ICMP administratively prohibited; local senders get EACCES.</summary>
    Prohibit = 8,
}

namespace Dataplane.Tun.Netlink;

/// <summary>One notification from <see cref="NetlinkMonitor"/>; exactly one of the payloads is set except for Overrun.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Link">For link changes.</param>
/// <param name="Route">For route changes.</param>
/// <param name="Address">For address changes.</param>
public sealed record NetlinkChange(NetlinkChangeKind Kind, LinkInfo? Link = null, RouteInfo? Route = null, AddressInfo? Address = null);

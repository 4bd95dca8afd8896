using Dataplane.Packets;

namespace Dataplane.Forwarding;

/// <summary>Whether a <see cref="RouteUpdate"/> installs/replaces a route or removes it.</summary>
public enum RouteUpdateKind : byte
{
    /// <summary>Install the route, replacing any route for the same prefix.</summary>
    Upsert = 0,
    /// <summary>Remove the route for the prefix (no-op when absent).</summary>
    Remove = 1,
}

/// <summary>
/// One change to the forwarding table. The control plane turns lease events into batches of these; the
/// table applies a batch atomically. A plain value, so the control→data channel could later cross a process
/// boundary (as flannel's SOCK_SEQPACKET command socket does) without changing either side.
/// </summary>
public readonly record struct RouteUpdate(RouteUpdateKind Kind, Ipv4Prefix Destination, NextHop NextHop = default)
{
    /// <summary>An upsert of <paramref name="destination"/> via <paramref name="nextHop"/>.</summary>
    public static RouteUpdate Upsert(Ipv4Prefix destination, NextHop nextHop) => new(RouteUpdateKind.Upsert, destination, nextHop);

    /// <summary>A removal of <paramref name="destination"/>.</summary>
    public static RouteUpdate Remove(Ipv4Prefix destination) => new(RouteUpdateKind.Remove, destination);
}

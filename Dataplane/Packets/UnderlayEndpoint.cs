namespace Dataplane.Packets;

/// <summary>
/// An underlay UDP endpoint (IPv4 address and port). Used per packet instead of <see cref="System.Net.IPEndPoint"/>,
/// which is a class and would allocate.
/// </summary>
public readonly record struct UnderlayEndpoint(Ipv4Address Address, ushort Port)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Address}:{Port}";
}

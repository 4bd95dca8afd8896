using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// What a peer may send us. flannel's proxy and the kernel's VXLAN device accept datagrams from anyone and deliver
/// whatever they carry; UDP has no handshake, so anyone who can spoof one peer's underlay address could then reach the
/// node's own services, other nodes' pods (relayed back out) and, with <c>--ip-masq</c>, the internet through our NAT.
/// We check, per datagram:
/// <list type="bullet">
/// <item>the outer source holds a lease (the PublicIPs of current leases), else <c>UnknownSource</c>;</item>
/// <item>the inner packet is IPv4 (the overlay is v4-only, as flannel's udp and vxlan backends here), else
/// <c>InnerIpv6</c>: a counted drop instead of a silent failure in a TUN that has IPv6 off;</item>
/// <item>the inner destination is in this node's subnet (its pods and its <c>.0</c> TUN address), else
/// <c>InnerDestinationNotLocal</c>;</item>
/// <item>the inner source belongs to the sending peer: an overlay reverse-path check through the forwarding table (the
/// route for the inner source must lead to the outer source), or the peer's PublicIP itself (host traffic that leaves
/// through the overlay), else <c>InnerSourceNotPeer</c>.</item>
/// </list>
/// <c>--accept-unknown-peers</c> (<see cref="Enabled"/> false) is the one escape hatch and turns off all of them, for
/// setups where a peer sends from an address other than its PublicIP.
/// </summary>
/// <remarks>
/// Lock-free reads of an immutable set published by the control plane (single writer), like the forwarding table; the
/// inner checks are a prefix compare and one lock-free lookup.
/// </remarks>
public sealed class PeerFilter
{
    // PublicIP → the peer's slot in Traffic (0 when not counted): the stranger check and the per-peer counter slot
    // come from one lookup.
    private Dictionary<uint, int> _allowed = new();

    /// <summary>When false, every source and every inner packet is accepted (flannel's behaviour).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>This node's subnet: inner destinations must be in it. Null: the inner checks are off (tests of other things).</summary>
    public Ipv4Prefix? LocalSubnet { get; init; }

    /// <summary>Per-peer counters: <see cref="Replace"/> gives each allowed address its slot there. Null: no slots.</summary>
    public Diagnostics.PeerTraffic? Traffic { get; init; }

    /// <summary>The forwarding table the reverse-path check uses (the same one the outbound pump reads).</summary>
    public Forwarding.ForwardingTable? Routes { get; init; }

    /// <summary>
    /// The inner checks for a decapsulated packet from <paramref name="outerSource"/> (which already passed
    /// <see cref="Allows(Ipv4Address)"/>): None, or why it must be dropped.
    /// </summary>
    public Diagnostics.DropReason CheckInner(Ipv4Address outerSource, ReadOnlySpan<byte> inner)
    {
        if (!Enabled || LocalSubnet is not { } local)
            return Diagnostics.DropReason.None;
        if (inner.Length < Ipv4Header.MinimumLength)
            return Diagnostics.DropReason.Truncated;
        if (inner[0] >> 4 != 4)
            return inner[0] >> 4 == 6 ? Diagnostics.DropReason.InnerIpv6 : Diagnostics.DropReason.BadIpVersion;
        if (!local.Contains(Ipv4Address.Read(inner[16..])))
            return Diagnostics.DropReason.InnerDestinationNotLocal;
        return IsPeersAddress(outerSource, Ipv4Address.Read(inner[12..])) ? Diagnostics.DropReason.None : Diagnostics.DropReason.InnerSourceNotPeer;
    }

    /// <summary>
    /// True when <paramref name="address"/> belongs to the peer at <paramref name="outerSource"/>: its PublicIP, or an
    /// address the forwarding table routes to it (its lease's subnet). Always true when the checks are off.
    /// </summary>
    public bool IsPeersAddress(Ipv4Address outerSource, Ipv4Address address)
    {
        if (!Enabled || Routes is not { } routes || address == outerSource)
            return true;
        return routes.TryLookup(address, out var hop) && hop.Endpoint.Address == outerSource;
    }

    /// <summary>Replaces the allowed set (control plane thread).</summary>
    public void Replace(IEnumerable<Ipv4Address> addresses)
    {
        var next = new Dictionary<uint, int>();
        foreach (var a in addresses)
            next[a.Value] = Traffic?.SlotFor(a) ?? 0;
        Volatile.Write(ref _allowed, next);
        IsInitialized = true;
    }

    /// <summary>
    /// False until the control plane published the first set. Datagrams that arrive before are still dropped (we cannot
    /// tell peers from strangers yet) but are not reported as strangers: at startup they are mostly real peers that
    /// learned our lease before we learned theirs.
    /// </summary>
    public bool IsInitialized { get; private set; }

    /// <summary>True when datagrams from <paramref name="source"/> are accepted.</summary>
    public bool Allows(Ipv4Address source) => !Enabled || Volatile.Read(ref _allowed).ContainsKey(source.Value);

    /// <summary>
    /// True when datagrams from <paramref name="source"/> are accepted; <paramref name="slot"/> is its per-peer counter
    /// slot (0 for an address holding no lease, accepted only with the checks off). One lock-free lookup.
    /// </summary>
    public bool Allows(Ipv4Address source, out int slot)
    {
        bool leased = Volatile.Read(ref _allowed).TryGetValue(source.Value, out slot);
        return leased || !Enabled;
    }

    /// <summary>Number of allowed addresses.</summary>
    public int Count => Volatile.Read(ref _allowed).Count;
}

using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// The underlay addresses allowed to send us overlay traffic: the PublicIPs of current leases. flannel's proxy and
/// the kernel's VXLAN device accept datagrams from anyone; we drop strangers (<c>DropReason.UnknownSource</c>)
/// unless the operator turns the check off for setups where a peer sends from an address other than its PublicIP.
/// </summary>
/// <remarks>
/// Lock-free reads of an immutable set published by the control plane (single writer), like the forwarding table.
/// </remarks>
public sealed class PeerFilter
{
    private HashSet<uint> _allowed = new();

    /// <summary>When false, every source is accepted (flannel's behaviour).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Replaces the allowed set (control plane thread).</summary>
    public void Replace(IEnumerable<Ipv4Address> addresses)
    {
        var next = new HashSet<uint>();
        foreach (var a in addresses)
            next.Add(a.Value);
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
    public bool Allows(Ipv4Address source) => !Enabled || Volatile.Read(ref _allowed).Contains(source.Value);

    /// <summary>Number of allowed addresses.</summary>
    public int Count => Volatile.Read(ref _allowed).Count;
}

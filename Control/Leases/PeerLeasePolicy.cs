using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// Which peer leases may become routes (and so, through the peer set that <c>IDataPath.Apply</c> derives from the
/// routes, get past the stranger check). The lease store is shared state that any node, an operator or a bug can
/// write, so each entry is untrusted input. A peer lease is refused when:
/// <list type="bullet">
/// <item>its subnet is not inside the Network: we would route, and accept traffic for, addresses that are not the
/// overlay's (a lease for 0.0.0.0/1 would capture half the internet);</item>
/// <item>its subnet overlaps our own subnet: our pods are local, never a peer's;</item>
/// <item>its subnet overlaps another peer's that passes the other checks: every lease of the overlapping group is
/// refused (see below);</item>
/// <item>its PublicIP is unspecified (0.0.0.0), loopback (127/8), multicast (224/4), limited broadcast
/// (255.255.255.255), or one of our own addresses: we would encapsulate to ourselves, to nobody or to everybody,
/// and accept our own or spoofable sources as a peer.</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>SubnetMin..SubnetMax are deliberately not checked for peers. In flannel they bound allocation only
/// (the random allocator and the reuse of a previous subnet, <c>isSubnetConfigCompat</c>); a peer lease anywhere
/// inside Network is routed (static reservations written by hand, leases allocated under an earlier range). We keep
/// that, so a narrower range on one node does not cut it off from the others.</para>
/// <para>Overlaps: flannel never allocates overlapping subnets (the allocator skips any subnet that overlaps a
/// lease, and etcd's create is atomic), so an overlap means a hand-written or forged entry, and no rule can tell
/// which side is genuine. The rule is: every peer lease that overlaps another peer lease is refused, as long as the
/// overlap lasts. It is deterministic (it depends only on the set of leases, not on the order they were seen, so
/// every node reaches the same verdict), fails closed (a disputed prefix is routed to nobody: the sender gets ICMP
/// net-unreachable instead of its traffic going to a possible impostor), and heals by itself when the bad entry is
/// removed. A peer lease overlapping our own subnet is refused alone (ours is not in question for us).</para>
/// </remarks>
internal sealed class PeerLeasePolicy
{
    private readonly Ipv4Prefix _network;
    private readonly Ipv4Prefix _ownSubnet;
    private readonly HashSet<Ipv4Address> _ownAddresses;

    /// <summary>A policy for a node holding <paramref name="ownSubnet"/> in <paramref name="network"/>, reachable at <paramref name="ownAddresses"/>.</summary>
    public PeerLeasePolicy(Ipv4Prefix network, Ipv4Prefix ownSubnet, IEnumerable<Ipv4Address> ownAddresses)
    {
        _network = network;
        _ownSubnet = ownSubnet;
        _ownAddresses = [.. ownAddresses];
    }

    /// <summary>
    /// Splits <paramref name="peers"/> (our own lease excluded by the caller) into the usable ones and the refused
    /// ones with one reason each. Order-independent: the verdict for a lease depends only on the set.
    /// </summary>
    public (List<Lease> Accepted, List<(Lease Lease, string Reason)> Refused) Split(IReadOnlyList<Lease> peers)
    {
        var refused = new List<(Lease, string)>();
        // Per-lease checks first: only leases that could be routed on their own compete in the overlap rule, so a
        // lease already refused (outside the Network, over our subnet, a bad PublicIP) cannot knock out a good one.
        var candidates = new List<Lease>(peers.Count);
        foreach (var lease in peers)
        {
            if (Refuse(lease) is { } reason)
                refused.Add((lease, reason));
            else
                candidates.Add(lease);
        }
        // Prefixes either nest or are disjoint, so two overlap iff one starts inside the other. Sorted by first
        // address (shorter prefix first on ties), a subnet overlaps an earlier one iff it starts at or before the
        // furthest end seen so far, and then it lies inside the prefix that reaches that far, so flagging both
        // marks every member of every overlapping group in O(n log n) on each snapshot.
        var overlapping = new Dictionary<Ipv4Prefix, Ipv4Prefix>();
        var sorted = candidates.Select(p => p.Subnet).Distinct().OrderBy(s => s.Address.Value).ThenBy(s => s.Length).ToList();
        uint furthestEnd = 0;
        Ipv4Prefix? furthest = null;
        foreach (var subnet in sorted)
        {
            if (furthest is { } holder && subnet.Address.Value <= furthestEnd)
            {
                overlapping[subnet] = holder;
                overlapping.TryAdd(holder, subnet);
            }
            if (furthest is null || subnet.LastAddress.Value > furthestEnd)
            {
                furthestEnd = subnet.LastAddress.Value;
                furthest = subnet;
            }
        }
        var accepted = new List<Lease>(candidates.Count);
        foreach (var lease in candidates)
        {
            if (overlapping.TryGetValue(lease.Subnet, out var other))
                refused.Add((lease, $"subnet {lease.Subnet} overlaps the lease {other} (overlapping peer leases are all ignored until one is removed)"));
            else
                accepted.Add(lease);
        }
        return (accepted, refused);
    }

    private string? Refuse(Lease lease)
    {
        var subnet = lease.Subnet;
        if (!_network.Contains(subnet))
            return $"subnet {subnet} is outside the Network {_network}";
        if (subnet.Overlaps(_ownSubnet))
            return $"subnet {subnet} overlaps our own subnet {_ownSubnet}";
        var ip = lease.Attributes.PublicIP;
        if (PublicIpProblem(ip) is { } problem)
            return $"PublicIP {ip} is {problem}";
        if (_ownAddresses.Contains(ip))
            return $"PublicIP {ip} is this node's own address";
        return null;
    }

    /// <summary>Why <paramref name="ip"/> cannot be a peer's underlay address, or null when it can.</summary>
    public static string? PublicIpProblem(Ipv4Address ip)
    {
        uint v = ip.Value;
        if (v == 0)
            return "unspecified";
        if (v >> 24 == 127)
            return "a loopback address";
        if (v >> 28 == 0xE)
            return "a multicast address";
        if (v == uint.MaxValue)
            return "the limited broadcast address";
        return null;
    }
}

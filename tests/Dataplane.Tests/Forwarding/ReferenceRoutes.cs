using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Tests.Forwarding;

/// <summary>
/// The naive model the table is checked against: a dictionary of routes and a linear scan that keeps the
/// longest matching prefix. Obviously right, hopelessly slow.
/// </summary>
internal sealed class ReferenceRoutes
{
    private readonly Dictionary<Ipv4Prefix, NextHop> _routes = [];

    public int Count => _routes.Count;

    public IReadOnlyCollection<Ipv4Prefix> Prefixes => _routes.Keys;

    public void Apply(ReadOnlySpan<RouteUpdate> updates)
    {
        foreach (var update in updates)
        {
            if (update.Kind == RouteUpdateKind.Remove)
                _routes.Remove(update.Destination);
            else
                _routes[update.Destination] = update.NextHop;
        }
    }

    public bool TryLookup(Ipv4Address address, out NextHop nextHop)
    {
        int best = -1;
        nextHop = default;
        foreach (var (prefix, hop) in _routes)
        {
            if (prefix.Length > best && prefix.Contains(address))
            {
                best = prefix.Length;
                nextHop = hop;
            }
        }
        return best >= 0;
    }

    public List<(Ipv4Prefix, NextHop)> SortedRoutes() =>
        [.. _routes.OrderBy(r => r.Key.Address).ThenBy(r => r.Key.Length).Select(r => (r.Key, r.Value))];

    /// <summary>A next hop whose every field is derived from <paramref name="id"/>, so mix-ups show.</summary>
    public static NextHop Hop(int id) => new(
        new UnderlayEndpoint(new Ipv4Address(0xC612_0000u + (uint)id), (ushort)(8000 + id % 1000)),
        id % 2 == 0 ? EncapsulationKind.Vxlan : EncapsulationKind.FlannelUdp,
        new MacAddress(0x0200_0000_0000UL + (ulong)id),
        (uint)id);

    /// <summary>Addresses where an LPM bug would show: each prefix's first and last address and their neighbours.</summary>
    public IEnumerable<Ipv4Address> EdgeAddresses()
    {
        foreach (var prefix in _routes.Keys)
        {
            uint first = prefix.Address.Value;
            uint last = prefix.LastAddress.Value;
            yield return new Ipv4Address(first);
            yield return new Ipv4Address(last);
            yield return new Ipv4Address(unchecked(first - 1));
            yield return new Ipv4Address(unchecked(last + 1));
            yield return new Ipv4Address(first + (last - first) / 2);
        }
    }
}

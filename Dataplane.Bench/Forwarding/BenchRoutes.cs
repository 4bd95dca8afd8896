using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Bench.Forwarding;

/// <summary>How prefix lengths are distributed in a benchmark table.</summary>
public enum RouteProfile
{
    /// <summary>Every route a /24: flannel gives each node the same SubnetLen, so one length.</summary>
    Flannel,
    /// <summary>Lengths /16, /20, /24 (x3), /28, /32: five distinct lengths, overlapping.</summary>
    Mixed,
}

/// <summary>Deterministic route sets and probe addresses for the forwarding benchmarks.</summary>
internal static class BenchRoutes
{
    private static readonly int[] MixedLengths = [16, 20, 24, 24, 24, 28, 32];

    /// <summary><paramref name="count"/> distinct prefixes, seeded so every run measures the same table.</summary>
    public static RouteUpdate[] Create(int count, RouteProfile profile, int seed = 42)
    {
        var random = new Random(seed);
        var seen = new HashSet<Ipv4Prefix>();
        var routes = new RouteUpdate[count];
        int n = 0;
        while (n < count)
        {
            int length = profile == RouteProfile.Flannel ? 24 : MixedLengths[random.Next(MixedLengths.Length)];
            var prefix = new Ipv4Prefix(new Ipv4Address((uint)random.NextInt64(0, 1L << 32)), length);
            if (seen.Add(prefix))
                routes[n++] = RouteUpdate.Upsert(prefix, Hop(n));
        }
        return routes;
    }

    /// <summary>Addresses inside randomly chosen routes (random host part): every lookup hits.</summary>
    public static Ipv4Address[] Hits(RouteUpdate[] routes, int count, int seed = 7)
    {
        var random = new Random(seed);
        var result = new Ipv4Address[count];
        for (int i = 0; i < count; i++)
        {
            var prefix = routes[random.Next(routes.Length)].Destination;
            uint host = (uint)random.NextInt64(0, 1L << 32) & ~prefix.Mask;
            result[i] = new Ipv4Address(prefix.Address.Value | host);
        }
        return result;
    }

    /// <summary>Random addresses no route covers: every lookup probes all lengths and misses.</summary>
    public static Ipv4Address[] Misses(ForwardingTable table, int count, int seed = 9)
    {
        var random = new Random(seed);
        var result = new Ipv4Address[count];
        int n = 0;
        while (n < count)
        {
            var address = new Ipv4Address((uint)random.NextInt64(0, 1L << 32));
            if (!table.TryLookup(address, out _))
                result[n++] = address;
        }
        return result;
    }

    public static NextHop Hop(int id) =>
        new(new UnderlayEndpoint(new Ipv4Address(0xC612_0000u + (uint)id), 8472), EncapsulationKind.Vxlan, new MacAddress(0x0200_0000_0000UL + (ulong)id), 1);
}

using BenchmarkDotNet.Attributes;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Bench.Forwarding;

/// <summary>
/// Baseline, not product code: the shape of flannel's udp proxy route lookup (proxy_amd64.c find_route,
/// a linear scan over all routes, reference flannel.md §1.3), here over an array sorted longest prefix
/// first so that first match is longest match. Shows what <see cref="ForwardingTable"/> replaces.
/// Move-to-front is left out: it helps only when few destinations dominate.
/// </summary>
[MemoryDiagnoser]
public class LinearScanBaselineBenchmarks
{
    private const int Probes = 256;
    private (uint Network, uint Mask, NextHop Hop)[] _routes = null!;
    private Ipv4Address[] _hits = null!;

    /// <summary>Routes in the table.</summary>
    [Params(10, 1_000, 100_000)]
    public int Routes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var routes = BenchRoutes.Create(Routes, RouteProfile.Flannel);
        _routes = [.. routes.OrderByDescending(u => u.Destination.Length)
            .Select(u => (u.Destination.Address.Value, u.Destination.Mask, u.NextHop))];
        _hits = BenchRoutes.Hits(routes, Probes);
    }

    /// <summary>Linear first-match lookups of destinations that all hit.</summary>
    [Benchmark(OperationsPerInvoke = Probes)]
    public uint LinearLookupHit()
    {
        uint sum = 0;
        var routes = _routes;
        foreach (var address in _hits)
        {
            for (int i = 0; i < routes.Length; i++)
            {
                if ((address.Value & routes[i].Mask) == routes[i].Network)
                {
                    sum += routes[i].Hop.Endpoint.Address.Value;
                    break;
                }
            }
        }
        return sum;
    }
}

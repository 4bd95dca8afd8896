using BenchmarkDotNet.Attributes;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Bench.Forwarding;

/// <summary>
/// <see cref="ForwardingTable.TryLookup"/> per packet, at 10, 1 000 and 100 000 routes. Each invocation
/// looks up 1 024 fixed-seed addresses back to back, as a pump does for a batch, and reports per lookup.
/// </summary>
[MemoryDiagnoser]
public class ForwardingTableLookupBenchmarks
{
    private const int Probes = 1024;
    private ForwardingTable _table = null!;
    private Ipv4Address[] _hits = null!;
    private Ipv4Address[] _misses = null!;

    /// <summary>Routes in the table.</summary>
    [Params(10, 1_000, 100_000)]
    public int Routes { get; set; }

    /// <summary>Prefix-length mix (the number of lengths bounds the probes per lookup).</summary>
    [Params(RouteProfile.Flannel, RouteProfile.Mixed)]
    public RouteProfile Profile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var routes = BenchRoutes.Create(Routes, Profile);
        _table = new ForwardingTable();
        _table.Apply(routes);
        _hits = BenchRoutes.Hits(routes, Probes);
        _misses = BenchRoutes.Misses(_table, Probes);
    }

    /// <summary>Every destination is covered by some route.</summary>
    [Benchmark(OperationsPerInvoke = Probes)]
    public uint LookupHit()
    {
        uint sum = 0;
        var table = _table;
        foreach (var address in _hits)
        {
            if (table.TryLookup(address, out var hop))
                sum += hop.Endpoint.Address.Value;
        }
        return sum;
    }

    /// <summary>No destination is covered: every present prefix length is probed.</summary>
    [Benchmark(OperationsPerInvoke = Probes)]
    public int LookupMiss()
    {
        int found = 0;
        var table = _table;
        foreach (var address in _misses)
        {
            if (table.TryLookup(address, out _))
                found++;
        }
        return found;
    }
}

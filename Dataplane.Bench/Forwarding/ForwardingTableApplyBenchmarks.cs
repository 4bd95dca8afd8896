using BenchmarkDotNet.Attributes;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Bench.Forwarding;

/// <summary>
/// Cost of publishing route changes at 100 000 routes: a small batch (what a lease event burst is) and a
/// full load from empty (what start-up or a resync costs). Control path: these allocate by design (a new
/// snapshot per batch); the point is how much.
/// </summary>
[MemoryDiagnoser]
public class ForwardingTableApplyBenchmarks
{
    private RouteUpdate[] _all = null!;
    private RouteUpdate[] _add = null!;
    private RouteUpdate[] _remove = null!;
    private ForwardingTable _table = null!;

    /// <summary>Routes already in the table.</summary>
    [Params(100_000)]
    public int Routes { get; set; }

    /// <summary>Updates per batch.</summary>
    [Params(8)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _all = BenchRoutes.Create(Routes + BatchSize, RouteProfile.Flannel);
        _table = new ForwardingTable();
        _table.Apply(_all.AsSpan(0, Routes));
        _add = _all[Routes..];
        _remove = [.. _add.Select(u => RouteUpdate.Remove(u.Destination))];
    }

    /// <summary>One batch adding <see cref="BatchSize"/> routes, then one removing them (reported per batch).</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int ApplySmallBatch()
    {
        _table.Apply(_add);
        _table.Apply(_remove);
        return _table.Count;
    }

    /// <summary>All <see cref="Routes"/> routes applied as one batch to an empty table (full build).</summary>
    [Benchmark]
    public int ApplyFullLoad()
    {
        var table = new ForwardingTable();
        table.Apply(_all.AsSpan(0, Routes));
        return table.Count;
    }
}

using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;

namespace Dataplane.Bench.Buffers;

/// <summary>
/// Rent/return on one thread (the uncontended pump case): one buffer at a time, and a 32-buffer batch
/// refill and drain through <see cref="PacketBatch"/>. Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class PacketBufferPoolBenchmarks
{
    private const int BatchSize = 32;
    private PacketBufferPool _pool = null!;
    private PacketBatch _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new PacketBufferPool(capacity: 1024);
        _batch = new PacketBatch(BatchSize);
    }

    /// <summary>TryRent then Return of one buffer.</summary>
    [Benchmark]
    public int RentReturn()
    {
        _pool.TryRent(out var buffer);
        int offset = buffer!.Offset;
        _pool.Return(buffer);
        return offset;
    }

    /// <summary>PacketBatch.RentFrom (32 buffers) then ReturnTo, reported per buffer.</summary>
    [Benchmark(OperationsPerInvoke = BatchSize)]
    public int RentReturnBatch()
    {
        int n = _batch.RentFrom(_pool);
        _batch.ReturnTo(_pool);
        return n;
    }
}

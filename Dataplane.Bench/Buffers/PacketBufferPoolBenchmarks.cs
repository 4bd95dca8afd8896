using BenchmarkDotNet.Attributes;
using Dataplane.Buffers;

namespace Dataplane.Bench.Buffers;

/// <summary>
/// Rent/return on one thread (the uncontended pump case), one buffer at a time. Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class PacketBufferPoolBenchmarks
{
    private PacketBufferPool _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new PacketBufferPool(capacity: 1024);
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
}

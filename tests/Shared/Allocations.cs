namespace Dataplane.Testing;

/// <summary>
/// "Allocates nothing per packet", measured so that it cannot lie either way.
/// </summary>
/// <remarks>
/// A per-packet allocation allocates in every round. The runtime, rarely, allocates a few KiB once on the measuring
/// thread while a loop runs (seen under the test host with the blame collector: ~1 run in 8, one call of the 200
/// allocating 1.3–6 KiB, never twice in a run), so one round is not proof in either direction. We measure up to
/// <c>rounds</c> rounds and pass on the first that allocates zero bytes; a round that allocates is logged. The
/// BenchmarkDotNet [MemoryDiagnoser] runs in perf-results are the other, independent, proof.
/// </remarks>
internal static class Allocations
{
    /// <summary>Runs <paramref name="round"/> (which itself loops) once to warm up, then asserts one round allocates 0 B.</summary>
    public static void AssertSteadyStateAllocatesNothing(Action round, int rounds = 5)
    {
        round(); // JIT, tiering, lazy statics out of the measurement
        var seen = new long[rounds];
        for (int r = 0; r < rounds; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            round();
            seen[r] = GC.GetAllocatedBytesForCurrentThread() - before;
            if (seen[r] == 0)
            {
                if (r > 0)
                    TestContext.Out.WriteLine($"allocated per round before a clean one: {string.Join(", ", seen[..r])} B");
                return;
            }
        }
        Assert.Fail($"every one of {rounds} rounds allocated: {string.Join(", ", seen)} B");
    }
}

using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Csv;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;

namespace Dataplane.Bench.Config;

/// <summary>
/// The one configuration every micro-benchmark runs under (Program.cs passes it to the switcher, so a new
/// benchmark class needs nothing but its own file).
/// </summary>
/// <remarks>
/// Job: one launch, 3 warm-up and 10 measured iterations of ~150 ms each. On the 2-core CI-class VM that
/// is ~5 s per case, so the whole suite stays within a few minutes, and the error column still shows when
/// a run was too noisy to trust (then rerun with a filter). Memory is always measured: a hot-path
/// benchmark must report "-" (0 B) in the Allocated column. Results are exported as GitHub Markdown (what
/// scripts/bench-micro.sh commits) and CSV (for tooling).
/// </remarks>
internal static class BenchConfig
{
    public static IConfig Create() =>
        ManualConfig.CreateMinimumViable()
            .AddJob(Job.Default
                .WithId("Micro")
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithIterationTime(TimeInterval.FromMilliseconds(150)))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub, CsvExporter.Default)
            .WithOptions(ConfigOptions.DisableLogFile);
}

using Control.Bench;

namespace Control.Tests.Bench;

/// <summary>
/// The development entry point: runs the full benchmark from a test (explicit only, never in CI). Options come from
/// the environment, e.g. <c>BENCH_MODES=plain,kernel-vxlan BENCH_DURATION=5 BENCH_REPETITIONS=3 BENCH_OUT=dir
/// dotnet test tests/Control.Tests --filter Name=DevRun</c> (scripts/bench-lab.sh wraps it until the
/// <c>dataplane bench</c> verb exists).
/// </summary>
[TestFixture, Category("Privileged"), Explicit("runs the full lab benchmark (minutes); scripts/bench-lab.sh")]
public sealed class LabBenchmarkDevRun
{
    [Test]
    public void DevRun()
    {
        BenchHarness.RequireBenchTools();
        BenchHarness.UseBuiltDataplane();
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        var options = new BenchOptions
        {
            Modes = BenchOptions.ParseModes(Env("BENCH_MODES")),
            Duration = TimeSpan.FromSeconds(int.Parse(Env("BENCH_DURATION") ?? "5", System.Globalization.CultureInfo.InvariantCulture)),
            Repetitions = int.Parse(Env("BENCH_REPETITIONS") ?? "3", System.Globalization.CultureInfo.InvariantCulture),
            OutputDirectory = Env("BENCH_OUT"),
            Smoke = Env("BENCH_SMOKE") == "1",
        };
        var results = BenchHarness.NewBenchmark().Run(options, TestContext.Progress);
        TestContext.Progress.WriteLine($"results in {results.OutputDirectory}");
        Assert.That(results.Modes.Any(m => m.Skipped is null), "no mode ran");
    }
}

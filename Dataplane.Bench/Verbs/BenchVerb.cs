using System.CommandLine;
using System.Globalization;
using Control.Bench;

namespace Control.Commands;

/// <summary>
/// <c>Dataplane.Bench bench</c>: the lab benchmark (see <see cref="LabBenchmark"/>): plain routing, the kernel's flannel.1 and
/// our modes, interleaved on one two-node namespace lab; writes results.json, report.md and PNG plots.
/// </summary>
internal sealed class BenchVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "bench";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("modes", FlagKind.Value,
            $"comma-separated modes, or 'all' (default: {string.Join(',', BenchModes.Default.Select(m => m.Name))}; "
            + $"opt-in: {string.Join(',', BenchModes.All.Where(m => m.OptIn).Select(m => m.Name))}). "
            + "Each mode takes ~40 s per repetition at the default 5 s tests: the default run ~20 min, all ~25 min", "LIST"),
        new("duration", FlagKind.Value, "length of each timed test in seconds, 1..600 (default 5; a trailing 's' is allowed)", "SECONDS"),
        new("repetitions", FlagKind.Value, "repetitions of the whole interleaved cycle, 1..50 (default 3)", "N"),
        new("out", FlagKind.Value, "output directory (default perf-results/<date>-<host>/lab)", "DIR"),
        new("smoke", FlagKind.Bool, "a few-second run that only proves the harness works (CI); its numbers mean nothing"),
        new("no-plots", FlagKind.Bool, "skip the PNG plots"),
        new("rerender", FlagKind.Value, "only write report.md again from DIR/results.json (no measuring)", "DIR"),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "Benchmark encapsulation overhead in a namespace lab: plain routing, kernel VXLAN and our modes, side by side (needs root).");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                if (options.Value(result, "rerender") is { } dir)
                {
                    LabBenchmark.RerenderReport(dir);
                    context.Out.WriteLine($"rewrote {dir}/report.md");
                    return ExitCodes.Ok;
                }
                var bench = new BenchOptions
                {
                    Modes = BenchOptions.ParseModes(options.Value(result, "modes")),
                    Duration = TimeSpan.FromSeconds(ParseInt(options.Value(result, "duration")?.TrimEnd('s'), 5, "--duration")),
                    Repetitions = ParseInt(options.Value(result, "repetitions"), 3, "--repetitions"),
                    OutputDirectory = options.Value(result, "out"),
                    Smoke = options.Bool(result, "smoke"),
                    NoPlots = options.Bool(result, "no-plots"),
                }.Resolve();
                var results = new LabBenchmark().Run(bench, context.Out);
                context.Out.WriteLine($"results in {bench.OutputDirectory ?? BenchOptions.DefaultOutputDirectory(DateTime.Now)}");
                return results is null ? ExitCodes.Failure : ExitCodes.Ok;
            }
            catch (BenchException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: bench: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (Lab.LabException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: bench: lab: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (ControlException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: {e.Message}");
                return e.ExitCode;
            }
        });
        return command;
    }

    private static int ParseInt(string? text, int absent, string flag)
    {
        if (text is null)
            return absent;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw ControlException.Usage($"invalid {flag} '{text}': must be a whole number");
    }
}

namespace Control.Bench;

/// <summary>What <c>Dataplane.Bench bench</c> measures (the verb maps its flags onto this one-to-one).</summary>
internal sealed record BenchOptions
{
    /// <summary>
    /// Mode names to run (<c>--modes plain,kernel-vxlan,...</c>); empty means <see cref="BenchModes.Default"/>, and
    /// <c>all</c> every mode in <see cref="BenchModes.All"/>.
    /// </summary>
    public IReadOnlyList<string> Modes { get; init; } = [];

    /// <summary>Length of each timed test (<c>--duration</c>); whole seconds, 1..600.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Repetitions of the whole interleaved mode cycle (<c>--repetitions</c>), 1..50.</summary>
    public int Repetitions { get; init; } = 3;

    /// <summary>Output directory (<c>--out</c>); default <c>perf-results/&lt;yyyy-MM-dd&gt;-&lt;hostname&gt;/lab</c>.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>
    /// <c>--smoke</c>: the few-second CI variant. Forces 1 repetition, 1 s tests, one UDP generator and a 1 s traced
    /// pass, so the harness cannot rot; its numbers mean nothing.
    /// </summary>
    public bool Smoke { get; init; }

    /// <summary>
    /// Parallel <c>Dataplane.Bench udp-blast</c> processes for the packets/s tests; 0 = one per CPU (at most 4). One per CPU
    /// because a veth transmit runs the receiving side's softirq inline on the sending CPU: in the kernel modes the
    /// whole forwarding path (and the sink's socket enqueue) is paid by the sender's CPU, so one sender, however
    /// cheap its syscalls, saturates one CPU and leaves the others idle.
    /// </summary>
    public int UdpGenerators { get; init; }

    /// <summary>Skip PNG plots (e.g. where the SkiaSharp native library cannot load); JSON and Markdown are still written.</summary>
    public bool NoPlots { get; init; }

    /// <summary>Parses a comma-separated <c>--modes</c> value ("plain,kernel-vxlan"); whitespace and empties ignored.</summary>
    public static IReadOnlyList<string> ParseModes(string? value) =>
        string.IsNullOrWhiteSpace(value)
            ? []
            : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The options actually used: smoke overrides applied, defaults resolved. Throws <see cref="BenchException"/> naming a bad value.</summary>
    public BenchOptions Resolve()
    {
        if (Duration < TimeSpan.FromSeconds(1) || Duration > TimeSpan.FromSeconds(600))
            throw new BenchException($"--duration must be 1..600 seconds, got {Duration.TotalSeconds:0.###}");
        if (Repetitions is < 1 or > 50)
            throw new BenchException($"--repetitions must be 1..50, got {Repetitions}");
        if (UdpGenerators is < 0 or > 16)
            throw new BenchException($"UDP generators must be 0..16, got {UdpGenerators}");
        foreach (var m in Modes)
            if (m != BenchModes.AllKeyword && BenchModes.Find(m) is null)
                throw new BenchException($"--modes: unknown mode '{m}' (known: {string.Join(", ", BenchModes.All.Select(x => x.Name))}, or {BenchModes.AllKeyword})");
        var generators = UdpGenerators > 0 ? UdpGenerators : Math.Clamp(Environment.ProcessorCount, 1, 4);
        return this with
        {
            Modes = ResolveModes(Modes),
            Duration = Smoke ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(Math.Round(Duration.TotalSeconds)),
            Repetitions = Smoke ? 1 : Repetitions,
            UdpGenerators = Smoke ? 1 : generators,
            OutputDirectory = OutputDirectory ?? DefaultOutputDirectory(DateTime.Now),
        };
    }

    /// <summary>Names in the order given, duplicates dropped; <c>all</c> expands to every mode in report order.</summary>
    private static List<string> ResolveModes(IReadOnlyList<string> modes) =>
        modes.Count == 0 ? BenchModes.Default.Select(m => m.Name).ToList()
        : modes.Contains(BenchModes.AllKeyword) ? BenchModes.All.Select(m => m.Name).ToList()
        : modes.Distinct(StringComparer.Ordinal).ToList();

    /// <summary><c>perf-results/&lt;yyyy-MM-dd&gt;-&lt;hostname&gt;/lab</c> relative to the working directory.</summary>
    public static string DefaultOutputDirectory(DateTime now) =>
        Path.Combine("perf-results", now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + "-" + Environment.MachineName, "lab");
}

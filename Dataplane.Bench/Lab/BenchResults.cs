namespace Control.Bench;

/// <summary>Everything one benchmark run produced; serialised as results.json.</summary>
internal sealed record BenchResults
{
    public string Schema { get; init; } = "dataplane-lab-bench/1";

    public required DateTimeOffset Started { get; init; }

    public DateTimeOffset Finished { get; set; }

    public required MachineInfo Machine { get; init; }

    public required BenchRunSettings Settings { get; init; }

    public List<ModeResult> Modes { get; init; } = [];

    /// <summary>Run-wide notes (tracing unavailable, generator limits, ...).</summary>
    public List<string> Notes { get; init; } = [];

    /// <summary>Where results.json, report.md and the plots were written.</summary>
    public string? OutputDirectory { get; set; }
}

/// <summary>The machine the run measured.</summary>
internal sealed record MachineInfo(string Hostname, string Kernel, string CpuModel, int Cpus, string LoadAverageAtStart, Dictionary<string, string> Tools)
{
    public string? LoadAverageAtEnd { get; set; }
}

/// <summary>The resolved options of the run.</summary>
internal sealed record BenchRunSettings(IReadOnlyList<string> Modes, double DurationSeconds, int Repetitions, int UdpGenerators, bool Smoke);

/// <summary>One mode: its repetitions and their summary.</summary>
internal sealed record ModeResult(string Name, string Description, bool HasDaemon, int ExpectedOverheadBytes)
{
    /// <summary>Why the mode was not measured (missing prerequisite, setup failure); null if it ran.</summary>
    public string? Skipped { get; set; }

    public List<RepetitionResult> Repetitions { get; init; } = [];

    /// <summary>Median, min and max per metric over the repetitions that produced it.</summary>
    public Dictionary<string, MetricSummary> Summary { get; init; } = [];

    /// <summary>The mode the report's ratios compare this one against (<see cref="BenchMode.Baseline"/>); null for none.</summary>
    public string? Baseline { get; init; }

    /// <summary>How particular numbers were obtained for this mode (generator, CPU source, overhead method).</summary>
    public Dictionary<string, string> Methods { get; init; } = [];
}

/// <summary>One repetition of one mode.</summary>
internal sealed record RepetitionResult(int Repetition)
{
    public Dictionary<string, double> Metrics { get; init; } = [];

    /// <summary>Steps that failed in this repetition, with the reason (other steps still ran).</summary>
    public List<string> Errors { get; init; } = [];

    /// <summary>Raw counters behind the metrics (bytes, packets, CPU seconds, syscall breakdown).</summary>
    public Dictionary<string, double> Raw { get; init; } = [];
}

/// <summary>Median and spread of one metric.</summary>
internal sealed record MetricSummary(double Median, double Min, double Max, int N)
{
    public static MetricSummary Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new MetricSummary(median, sorted[0], sorted[^1], n);
    }
}

namespace Control.Bench;

/// <summary>
/// One of our modes against its per-packet baseline and against kernel VXLAN, from the same run's medians (modes are
/// interleaved per repetition, so both sides of a ratio saw the same machine). Null where a side is missing.
/// </summary>
/// <param name="Mode">Our mode.</param>
/// <param name="Baseline">Its per-packet baseline, if that ran.</param>
/// <param name="Tcp1VsBaseline">Single-stream TCP, × the baseline's (issue 11's target: ≥ 1.3).</param>
/// <param name="CpuVsBaseline">Both daemons' CPU per GB, × the baseline's.</param>
/// <param name="SenderCpuVsBaseline">The sending daemon's CPU per GB, × the baseline's (issue 11's target: ≤ 0.5).</param>
/// <param name="Tcp1VsKernel">Single-stream TCP, × kernel VXLAN's.</param>
/// <param name="MachineCpuVsKernel">Whole-machine CPU per GB, × kernel VXLAN's (the kernel mode has no daemon, so its machine time is the like-for-like figure).</param>
internal sealed record ModeRatios(
    string Mode,
    string? Baseline,
    double? Tcp1VsBaseline,
    double? CpuVsBaseline,
    double? SenderCpuVsBaseline,
    double? Tcp1VsKernel,
    double? MachineCpuVsKernel)
{
    public const string KernelMode = "kernel-vxlan";

    /// <summary>A row per mode that ran with a daemon, in run order.</summary>
    public static IReadOnlyList<ModeRatios> Of(IReadOnlyList<ModeResult> ran)
    {
        var byName = ran.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var kernel = byName.GetValueOrDefault(KernelMode);
        var rows = new List<ModeRatios>();
        foreach (var m in ran.Where(m => m.HasDaemon))
        {
            var baseline = m.Baseline is { } b ? byName.GetValueOrDefault(b) : null;
            rows.Add(new ModeRatios(
                m.Name,
                baseline?.Name,
                Ratio(m, baseline, BenchMetric.Tcp1Gbps),
                Ratio(m, baseline, BenchMetric.DataplaneCpuPerGb),
                Ratio(m, baseline, BenchMetric.SenderCpuPerGb),
                Ratio(m, kernel, BenchMetric.Tcp1Gbps),
                Ratio(m, kernel, BenchMetric.MachineCpuPerGb)));
        }
        return rows;
    }

    /// <summary>median(mode) ÷ median(reference) of one metric; null if either lacks it or the reference is not positive.</summary>
    internal static double? Ratio(ModeResult mode, ModeResult? reference, string metric) =>
        reference is not null
        && mode.Summary.TryGetValue(metric, out var x)
        && reference.Summary.TryGetValue(metric, out var r) && r.Median > 0
            ? x.Median / r.Median
            : null;
}

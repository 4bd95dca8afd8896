using ScottPlot;

namespace Control.Bench;

/// <summary>
/// PNG plots of a run (ScottPlot, rendered headless through SkiaSharp): grouped bars per mode at the median with a
/// min–max whisker. Modes without a value for a metric (n/a, failed) simply have no bar there.
/// </summary>
internal static class BenchPlots
{
    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"), Color.FromHex("#9467bd"),
    ];

    /// <summary>Writes the plots into <paramref name="dir"/>; returns their file names (relative to it).</summary>
    public static IReadOnlyList<string> Write(BenchResults r, string dir)
    {
        var files = new List<string>();
        void Add(string file, string title, string unit, params (string Key, string Label)[] series)
        {
            if (GroupedBars(r, Path.Combine(dir, file), title, unit, series))
                files.Add(file);
        }
        Add("throughput.png", "Throughput, pod to pod across two nodes", "Gbit/s",
            (BenchMetric.Tcp1Gbps, "TCP 1 stream"), (BenchMetric.Tcp4Gbps, "TCP 4 streams"), (BenchMetric.Udp1400Gbps, "UDP 1400 B delivered"));
        Add("udp-packets.png", "UDP packets/s delivered (parallel iperf3 generators)", "kpps",
            (BenchMetric.Udp64Kpps, "64 B"), (BenchMetric.Udp1400Kpps, "1400 B"));
        Add("cpu-per-gb.png", "CPU seconds per GB (1-stream TCP)", "s/GB",
            (BenchMetric.DataplaneCpuPerGb, "dataplane (both daemons, or softirq for kernel modes)"), (BenchMetric.SenderCpuPerGb, "sending daemon"),
            (BenchMetric.SoftirqCpuPerGb, "softirq"), (BenchMetric.MachineCpuPerGb, "whole machine"));
        Add("switches-syscalls-per-mb.png", "Context switches and syscalls per MB", "per MB",
            (BenchMetric.VoluntaryPerMb, "dataplane voluntary switches"), (BenchMetric.InvoluntaryPerMb, "dataplane involuntary switches"),
            (BenchMetric.MachineCsPerMb, "machine context switches"), (BenchMetric.SyscallsPerMb, "dataplane syscalls (traced pass)"));
        Add("syscalls-per-packet.png", "System calls per inner packet (traced pass, 1-stream TCP)", "per packet",
            (BenchMetric.SyscallsPerPacket, "both daemons, all syscalls, per packet either way"),
            (BenchMetric.SenderIoPerSegment, "sending daemon, TUN reads + UDP sends, per data segment"));
        Add("latency.png", "Request/response latency (sockperf ping-pong, RTT/2)", "µs",
            (BenchMetric.LatencyP50, "p50"), (BenchMetric.LatencyP99, "p99"));
        return files;
    }

    private static bool GroupedBars(BenchResults r, string path, string title, string unit, (string Key, string Label)[] series)
    {
        var modes = r.Modes.Where(m => m.Skipped is null).ToList();
        var plot = new Plot();
        var bars = new List<Bar>();
        List<double> xs = [], ys = [], up = [], down = [];
        int group = series.Length + 1;
        for (int mi = 0; mi < modes.Count; mi++)
        {
            for (int si = 0; si < series.Length; si++)
            {
                if (!modes[mi].Summary.TryGetValue(series[si].Key, out var s))
                    continue;
                xs.Add(mi * group + si);
                ys.Add(s.Median);
                up.Add(s.Max - s.Median);
                down.Add(s.Median - s.Min);
                bars.Add(new Bar
                {
                    Position = mi * group + si,
                    Value = s.Median,
                    FillColor = Palette[si % Palette.Length],
                });
            }
        }
        if (bars.Count == 0)
            return false;
        plot.Add.Bars(bars);
        // Bar.Error is symmetric; the min–max spread is not, so it gets its own error-bar plottable.
        var zeros = new double[xs.Count];
        var whiskers = new ScottPlot.Plottables.ErrorBar(xs, ys, zeros, zeros, up, down) { LineColor = Colors.Black };
        plot.Add.Plottable(whiskers);
        plot.Axes.Bottom.SetTicks(
            Enumerable.Range(0, modes.Count).Select(mi => mi * group + (series.Length - 1) / 2.0).ToArray(),
            modes.Select(m => m.Name).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title + (r.Settings.Smoke ? " (smoke run)" : ""));
        plot.YLabel(unit);
        for (int si = 0; si < series.Length; si++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[si].Label, FillColor = Palette[si % Palette.Length] });
        plot.Legend.IsVisible = true;
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.SavePng(path, 1000, 520);
        return true;
    }
}

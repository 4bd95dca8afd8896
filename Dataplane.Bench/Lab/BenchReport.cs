using System.Globalization;
using System.Text;

namespace Control.Bench;

/// <summary>Renders report.md from a run's results: summary table (median and min–max), ratios, methods, notes, plots.</summary>
internal static class BenchReport
{
    /// <summary>Load average (1 min) above which a run is labelled a development run: numbers from a busy machine.</summary>
    public const double QuietLoad = 0.5;

    public static string Render(BenchResults r, IReadOnlyList<string> plots)
    {
        var sb = new StringBuilder();
        var ran = r.Modes.Where(m => m.Skipped is null).ToList();
        sb.AppendLine("# Lab benchmark: encapsulation overhead, side by side with kernel VXLAN").AppendLine();
        if (r.Settings.Smoke)
            sb.AppendLine("> **Smoke run** (1 repetition, 1 s tests): proves the harness works; the numbers mean nothing.").AppendLine();
        // Quiet means quiet before we start: the load at the end is mostly the benchmark's own traffic.
        if (!IsQuiet(r.Machine.LoadAverageAtStart))
            sb.AppendLine(Inv($"> **Development run:** the machine was not quiet (load average {r.Machine.LoadAverageAtStart} at start, {r.Machine.LoadAverageAtEnd} at end; a final report needs < {QuietLoad}). Compare modes within this run only.")).AppendLine();
        sb.AppendLine(Inv($"- Machine: `{r.Machine.Hostname}`, {r.Machine.Cpus} × {r.Machine.CpuModel}, kernel {r.Machine.Kernel}"));
        sb.AppendLine(Inv($"- Run: {r.Started:yyyy-MM-dd HH:mm:ss zzz} → {r.Finished:HH:mm:ss}; {r.Settings.Repetitions} repetition(s) × {r.Settings.DurationSeconds:0} s per test, modes interleaved per repetition; {r.Settings.UdpGenerators} UDP generator process(es)"));
        sb.AppendLine(Inv($"- Tools: {string.Join("; ", r.Machine.Tools.Select(kv => $"{kv.Key}: `{kv.Value}`"))}"));
        sb.AppendLine("- Topology: two node namespaces on a veth/bridge underlay (198.18.0.0/24, MTU 1500), one pod namespace per node attached by the CNI bridge plugin from the node's subnet.env; all traffic pod 1 → pod 2.");
        sb.AppendLine();
        sb.AppendLine("## Results (median, min–max over repetitions)").AppendLine();
        if (ran.Count == 0)
        {
            sb.AppendLine("No mode ran.").AppendLine();
        }
        else
        {
            sb.Append("| metric | unit |");
            foreach (var m in ran)
                sb.Append(Inv($" {m.Name} |"));
            sb.AppendLine().Append("|---|---|");
            foreach (var _ in ran)
                sb.Append("---|");
            sb.AppendLine();
            foreach (var metric in BenchMetric.All)
            {
                sb.Append(Inv($"| {metric.Label} | {metric.Unit} |"));
                foreach (var m in ran)
                    sb.Append(' ').Append(Cell(m, metric)).Append(" |");
                sb.AppendLine();
            }
            sb.AppendLine();
            sb.AppendLine("n/a: no dataplane process in that mode (the kernel does the work in softirq context; see the softirq and machine rows).").AppendLine();
            AppendRatios(sb, ran);
            AppendBaselineRatios(sb, ran);
        }
        var skipped = r.Modes.Where(m => m.Skipped is not null).ToList();
        if (skipped.Count > 0)
        {
            sb.AppendLine("## Skipped modes").AppendLine();
            foreach (var m in skipped)
                sb.AppendLine(Inv($"- `{m.Name}` ({m.Description}): {m.Skipped}"));
            sb.AppendLine();
        }
        var notRun = BenchModes.All.Where(m => !r.Modes.Any(x => x.Name == m.Name)).ToList();
        if (notRun.Count > 0)
        {
            sb.AppendLine("## Modes not in this run").AppendLine();
            sb.AppendLine("Name them in `--modes` (or pass `--modes all`) to measure them:").AppendLine();
            foreach (var m in notRun)
                sb.AppendLine(Inv($"- `{m.Name}`: {m.Description}{(m.OptIn ? " (opt-in: not in the default run)" : "")}"));
            sb.AppendLine();
        }
        if (plots.Count > 0)
        {
            sb.AppendLine("## Plots").AppendLine();
            foreach (var p in plots)
                sb.AppendLine(Inv($"![{Path.GetFileNameWithoutExtension(p)}]({p})"));
            sb.AppendLine();
        }
        sb.AppendLine("## Methods").AppendLine();
        foreach (var metric in BenchMetric.All)
            sb.AppendLine(Inv($"- **{metric.Label}** ({metric.Unit}): {metric.Method}."));
        foreach (var m in ran)
            foreach (var (key, how) in m.Methods.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                sb.AppendLine(Inv($"- `{m.Name}` {key}: {how}."));
        sb.AppendLine();
        if (r.Notes.Count > 0)
        {
            sb.AppendLine("## Notes").AppendLine();
            foreach (var n in r.Notes)
                sb.AppendLine("- " + n);
            sb.AppendLine();
        }
        var errors = r.Modes.SelectMany(m => m.Repetitions.SelectMany(rep => rep.Errors.Select(e => (m.Name, rep.Repetition, e)))).ToList();
        if (errors.Count > 0)
        {
            sb.AppendLine("## Failed steps").AppendLine();
            foreach (var (mode, rep, e) in errors)
                sb.AppendLine(Inv($"- {mode}, repetition {rep}: {e.Split('\n')[0]}"));
            sb.AppendLine();
        }
        sb.AppendLine("## Reproduce").AppendLine();
        sb.AppendLine("```");
        sb.AppendLine("sudo scripts/install-deps.sh");
        sb.AppendLine(Inv($"sudo Dataplane.Bench bench --modes {string.Join(',', r.Settings.Modes)} --duration {r.Settings.DurationSeconds:0} --repetitions {r.Settings.Repetitions}{(r.Settings.Smoke ? " --smoke" : "")}"));
        sb.AppendLine("```");
        sb.AppendLine("(`sudo scripts/bench-lab.sh` takes the same flags.) Run it alone on a quiet machine: lab namespace names are machine-global unless DATAPLANE_LAB_PREFIX differs.");
        sb.AppendLine("Raw numbers: `results.json` beside this file (every repetition, with the raw counters).");
        return sb.ToString();
    }

    private static void AppendRatios(StringBuilder sb, List<ModeResult> ran)
    {
        var plain = ran.FirstOrDefault(m => m.Name == "plain");
        var kernel = ran.FirstOrDefault(m => m.Name == "kernel-vxlan");
        if (plain is null && kernel is null)
            return;
        sb.AppendLine("### Single-stream TCP relative to plain routing and kernel VXLAN").AppendLine();
        foreach (var m in ran)
        {
            if (!m.Summary.TryGetValue(BenchMetric.Tcp1Gbps, out var t))
                continue;
            var parts = new List<string>();
            if (plain?.Summary.GetValueOrDefault(BenchMetric.Tcp1Gbps) is { Median: > 0 } p)
                parts.Add(Inv($"{t.Median / p.Median:0.00}× plain"));
            if (kernel?.Summary.GetValueOrDefault(BenchMetric.Tcp1Gbps) is { Median: > 0 } k)
                parts.Add(Inv($"{t.Median / k.Median:0.00}× kernel VXLAN"));
            sb.AppendLine(Inv($"- `{m.Name}`: {t.Median:0.00} Gbit/s = {string.Join(", ", parts)}"));
        }
        sb.AppendLine();
    }

    /// <summary>Our modes against their per-packet baselines and kernel VXLAN (what issue 11's targets are stated in).</summary>
    private static void AppendBaselineRatios(StringBuilder sb, List<ModeResult> ran)
    {
        var rows = ModeRatios.Of(ran);
        if (rows.Count == 0)
            return;
        sb.AppendLine("### Our modes relative to their per-packet baseline and to kernel VXLAN").AppendLine();
        sb.AppendLine("Ratios of this run's medians. Issue 11's targets for the batch default: single-stream TCP ≥ 1.3× the per-packet mode, sending daemon's CPU per GB ≤ 0.5× (and, in the table above, TUN reads + UDP sends per data segment ≤ 0.1).").AppendLine();
        sb.AppendLine("| mode | baseline | TCP 1 stream × baseline | daemons' CPU per GB × baseline | sending daemon's CPU per GB × baseline | TCP 1 stream × kernel VXLAN | machine CPU per GB × kernel VXLAN |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var x in rows)
        {
            sb.AppendLine(Inv($"| `{x.Mode}` | {(x.Baseline is null ? "—" : $"`{x.Baseline}`")} | {Times(x.Tcp1VsBaseline)} | {Times(x.CpuVsBaseline)} | {Times(x.SenderCpuVsBaseline)} | {Times(x.Tcp1VsKernel)} | {Times(x.MachineCpuVsKernel)} |"));
        }
        sb.AppendLine();
    }

    private static string Times(double? ratio) => ratio is { } v ? Format(v) + "×" : "—";

    private static string Cell(ModeResult m, BenchMetric metric)
    {
        if (!m.Summary.TryGetValue(metric.Key, out var s))
            return metric.DaemonOnly && !m.HasDaemon ? "n/a" : "—";
        return s.N > 1 && s.Min != s.Max ? $"{Format(s.Median)} ({Format(s.Min)}–{Format(s.Max)})" : Format(s.Median);
    }

    /// <summary>Three significant digits, no exponent for the ranges this report sees.</summary>
    internal static string Format(double v)
    {
        double a = Math.Abs(v);
        if (a >= 1 && v == Math.Round(v))
            return v.ToString("0", CultureInfo.InvariantCulture);
        string f = a >= 100 ? "0" : a >= 10 ? "0.0" : a >= 1 ? "0.00" : a >= 0.01 ? "0.000" : "0.#####";
        return v.ToString(f, CultureInfo.InvariantCulture);
    }

    private static bool IsQuiet(string? loadAverage) =>
        loadAverage is not null
        && double.TryParse(loadAverage.Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double l)
        && l < QuietLoad;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

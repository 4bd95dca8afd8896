using System.Globalization;
using System.Text.Json;
using Control.Lab;

namespace Control.Bench;

/// <summary>
/// The lab benchmark behind <c>Dataplane.Bench bench</c>: builds a two-node namespace lab once and measures every mode on
/// the same nodes, interleaved (repetition r runs every mode before r + 1 starts, so machine drift spreads over all
/// modes instead of biasing one), then writes results.json, report.md and PNG plots.
/// </summary>
/// <remarks>
/// Per mode and repetition the nodes are reprogrammed (routes, flannel.1 or daemons), the pods re-attached through
/// CNI, and the tests run pod 1 → pod 2: TCP 1 and 4 streams, UDP 64 B and 1400 B packets/s, ping-pong latency, then a
/// separate traced pass for syscalls, and once per mode a short capture for the wire overhead. Every tool runs with a
/// timeout, all traffic stays inside the lab namespaces, and the lab is torn down in <c>finally</c>.
/// </remarks>
internal sealed partial class LabBenchmark
{
    private const int Nodes = 2;
    private const int IperfBasePort = 5201;
    private const int SockperfPort = 11111;
    private const int UdpSinkPort = 5301;

    /// <summary>ping -s 200: 200 B payload + 8 B ICMP + 20 B IPv4 = the inner packet's IPv4 total length.</summary>
    private const int PingPayload = 200;
    private const int PingIpLength = PingPayload + 28;

    /// <summary>Steps per mode and repetition, for the progress estimate: setup, 7 tests, teardown.</summary>
    private const int StepsPerModeRun = 9;

    private static readonly string[] SyscallBreakdown =
    [
        "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
        "poll", "ppoll", "epoll_wait", "epoll_pwait", "futex", "io_uring_enter",
    ];

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly LabLayout _layout;

    public LabBenchmark(LabLayout? layout = null) => _layout = layout ?? new LabLayout();

    /// <summary>
    /// Runs the benchmark and writes its outputs. Throws <see cref="BenchException"/> for bad options or missing
    /// tools; a mode whose prerequisites are missing or whose setup fails is skipped and the report says why.
    /// </summary>
    public BenchResults Run(BenchOptions options, TextWriter progress)
    {
        var o = options.Resolve();
        foreach (var tool in new[] { "ip", "iperf3", "sockperf", "ping" })
            if (FindTool(tool) is null)
                throw new BenchException($"the benchmark needs '{tool}' (scripts/install-deps.sh installs it)");
        var results = new BenchResults
        {
            Started = DateTimeOffset.Now,
            Machine = DescribeMachine(),
            Settings = new BenchRunSettings(o.Modes, o.Duration.TotalSeconds, o.Repetitions, o.UdpGenerators, o.Smoke),
        };
        if (o.Smoke)
            results.Notes.Add("smoke run: 1 repetition of 1 s tests; the numbers only prove the harness works");
        var modes = o.Modes.Select(n => BenchModes.Find(n)!).ToList();
        foreach (var mode in modes)
        {
            var result = new ModeResult(mode.Name, mode.Description, mode.HasDaemon, mode.ExpectedOverheadBytes)
            {
                Skipped = MissingPrerequisite(mode),
                Baseline = mode.Baseline,
            };
            results.Modes.Add(result);
        }
        var tracer = SyscallTracer.Detect();
        results.Notes.Add(tracer.Description);
        int runnable = results.Modes.Count(m => m.Skipped is null);
        var bar = new BenchProgress(progress, runnable * o.Repetitions * StepsPerModeRun);
        foreach (var m in results.Modes.Where(m => m.Skipped is not null))
            bar.Note($"skipping {m.Name}: {m.Skipped}");
        var lab = new Lab.Lab(_layout);
        WaitForOtherLab(o.Smoke ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(120), bar, results);
        try
        {
            bar.Note($"building the lab ({Nodes} nodes on one underlay)");
            lab.Up(new LabOptions { Nodes = Nodes, StartDaemons = false });
            for (int r = 1; r <= o.Repetitions; r++)
            {
                for (int k = 0; k < modes.Count; k++)
                {
                    if (results.Modes[k].Skipped is not null)
                    {
                        continue;
                    }
                    var run = new ModeRun(this, lab, modes[k], results.Modes[k], o, tracer, bar, r);
                    try
                    {
                        run.Execute();
                    }
                    catch (LabVanishedException ex)
                    {
                        results.Notes.Add($"run aborted in repetition {r}, mode {modes[k].Name}: {ex.Message}");
                        bar.Note("ABORTED: " + ex.Message);
                        r = o.Repetitions;
                        break;
                    }
                }
            }
        }
        finally
        {
            bar.Note("tearing the lab down");
            lab.Down();
        }
        foreach (var m in results.Modes)
            Summarize(m);
        results.Machine.LoadAverageAtEnd = LoadAverage();
        results.Finished = DateTimeOffset.Now;
        Write(results, o, bar);
        return results;
    }

    /// <summary>
    /// Lab names are machine-global and <see cref="Lab.Lab.Up"/> starts by removing any lab, so a lab that is up
    /// (another user's, or one left by a crash) is given a bounded time to go away before it is taken over.
    /// </summary>
    private static void WaitForOtherLab(TimeSpan patience, BenchProgress bar, BenchResults results)
    {
        static bool LabExists() => Directory.Exists("/run/netns")
            && Directory.EnumerateFiles("/run/netns").Any(f => Path.GetFileName(f).StartsWith(LabLayout.Prefix, StringComparison.Ordinal));
        if (!LabExists())
            return;
        bar.Note($"a lab is already up (dpl-* namespaces); waiting up to {patience.TotalSeconds:0} s for it to go away");
        var deadline = DateTime.UtcNow + patience;
        while (LabExists() && DateTime.UtcNow < deadline)
            Thread.Sleep(500);
        if (LabExists())
            results.Notes.Add("a lab was already up at the start and did not go away; it was torn down and replaced (a crashed run's leftovers, or a concurrent lab user whose run this broke)");
    }

    /// <summary>Writes results.json, report.md and (unless disabled or impossible) the plots.</summary>
    private static void Write(BenchResults results, BenchOptions o, BenchProgress bar)
    {
        var dir = Path.GetFullPath(o.OutputDirectory!);
        Directory.CreateDirectory(dir);
        results.OutputDirectory = dir;
        IReadOnlyList<string> plots = [];
        if (!o.NoPlots)
        {
            try
            {
                plots = BenchPlots.Write(results, dir);
            }
            catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException)
            {
                results.Notes.Add($"plots not written: {ex.GetBaseException().Message}");
            }
        }
        File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(results, JsonOptions));
        File.WriteAllText(Path.Combine(dir, "report.md"), BenchReport.Render(results, plots));
        bar.Note($"wrote {dir}/results.json, report.md and {plots.Count} plots");
    }

    /// <summary>Renders report.md again from a run's results.json and the plots beside it (after a report change).</summary>
    public static void RerenderReport(string dir)
    {
        var results = JsonSerializer.Deserialize<BenchResults>(File.ReadAllText(Path.Combine(dir, "results.json")), JsonOptions)
            ?? throw new BenchException($"{dir}/results.json is empty");
        var plots = Directory.GetFiles(dir, "*.png").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        File.WriteAllText(Path.Combine(dir, "report.md"), BenchReport.Render(results, plots));
    }

    private static void Summarize(ModeResult m)
    {
        foreach (var metric in BenchMetric.All)
        {
            var values = m.Repetitions.Where(r => r.Metrics.ContainsKey(metric.Key)).Select(r => r.Metrics[metric.Key]).ToList();
            if (values.Count > 0)
                m.Summary[metric.Key] = MetricSummary.Of(values);
        }
    }

    /// <summary>
    /// How to start the traffic generators (<c>udp-blast</c>, <c>udp-sink</c>: Dataplane.Bench's own verbs, so the daemon
    /// does not carry them): <c>DATAPLANE_BENCH_EXE</c>, this process, or Dataplane.Bench beside it (the tests).
    /// </summary>
    internal static IReadOnlyList<string> GeneratorCommand() => Lab.Lab.CommandFor("Dataplane.Bench", "DATAPLANE_BENCH_EXE", "Dataplane.Bench");

    /// <summary>Null when the mode can run; otherwise why not (the report prints it).</summary>
    private static string? MissingPrerequisite(BenchMode mode)
    {
        if (mode.Daemon is { } daemon)
        {
            var cmd = Lab.Lab.DataplaneCommand();
            LabShell.Result help;
            try
            {
                help = LabShell.Run(cmd[0], [.. cmd.Skip(1), "run", "--help"], timeout: TimeSpan.FromSeconds(30));
            }
            catch (LabException ex)
            {
                return $"cannot run the dataplane executable: {ex.Message}";
            }
            var text = help.StdOut + help.StdErr;
            var missing = daemon.RequiredHelpText.Where(t => !text.Contains(t, StringComparison.Ordinal)).ToList();
            if (help.ExitCode != 0 || missing.Count > 0)
                return $"`dataplane run` does not offer {string.Join(", ", missing.DefaultIfEmpty("a working --help"))} yet (not merged in this build)";
        }
        return null;
    }

    /// <summary>False once the lab's pod namespaces or state directory are gone (someone else ran lab down/up).</summary>
    private static bool LabIntact(LabLayout layout) =>
        Directory.Exists(layout.Root) && Enumerable.Range(1, Nodes).All(i => File.Exists("/run/netns/" + LabLayout.NodeNamespace(i)));

    /// <summary>
    /// Lab names are machine-global, so another lab user (dataplane lab, the end-to-end tests) removing its lab removes
    /// ours: the run stops and says so instead of reporting the wreckage as measurements.
    /// </summary>
    private sealed class LabVanishedException() : BenchException(
        "the lab disappeared under the benchmark: another lab user on this machine (dataplane lab, the end-to-end tests) tore it down; run the benchmark alone");

    /// <summary>Udp InDatagrams and RcvbufErrors of namespace <paramref name="ns"/> (/proc/net/snmp is per namespace).</summary>
    private static (long InDatagrams, long RcvbufErrors) UdpCounters(string ns) => ParseUdpSnmp(Snmp(ns));

    /// <summary>
    /// Tcp OutSegs of namespace <paramref name="ns"/>: TCP segments sent, counted at MSS granularity (the stack adds
    /// a TSO super-packet's segment count), so it counts the inner packets a data path carries however it batches them.
    /// </summary>
    private static long TcpOutSegs(string ns) => SnmpValue(Snmp(ns), "Tcp", "OutSegs");

    private static string Snmp(string ns) => LabShell.Run("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]).StdOut;

    /// <summary>The <c>sent</c> count of <c>Dataplane.Bench udp-blast</c>'s JSON line.</summary>
    internal static long UdpBlastSent(string stdout)
    {
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('{'))
            ?? throw new BenchException($"udp-blast printed no JSON line: {stdout.Trim()}");
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("sent").GetInt64();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new BenchException($"udp-blast output is not understood ({ex.Message}): {line}");
        }
    }

    /// <summary>Parses the "Udp:" header and value lines of /proc/net/snmp.</summary>
    internal static (long InDatagrams, long RcvbufErrors) ParseUdpSnmp(string snmp) =>
        (SnmpValue(snmp, "Udp", "InDatagrams"), SnmpValue(snmp, "Udp", "RcvbufErrors"));

    /// <summary>
    /// One counter of /proc/net/snmp, found by column name in the <paramref name="protocol"/> header line (columns
    /// differ between kernels); 0 if the kernel has no such column. Throws if the protocol has no lines at all.
    /// </summary>
    internal static long SnmpValue(string snmp, string protocol, string name)
    {
        var prefix = protocol + ":";
        var lines = snmp.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        if (lines.Count < 2)
            throw new BenchException($"/proc/net/snmp has no {protocol} lines");
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int i = Array.IndexOf(names, name);
        // Tcp MaxConn is -1 ("dynamic"), so values may be signed.
        return i > 0 && i < values.Length ? long.Parse(values[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
    }

    private static MachineInfo DescribeMachine()
    {
        string Read(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "?";
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?"
            : "?";
        var tools = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tool, arg) in new[] { ("iperf3", "--version"), ("sockperf", "--version"), ("perf", "--version"), ("tcpdump", "--version") })
        {
            if (FindTool(tool) is null)
                continue;
            var r = LabShell.Run(tool, [arg], timeout: TimeSpan.FromSeconds(10));
            tools[tool] = (r.StdOut + r.StdErr).Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "?";
        }
        return new MachineInfo(Environment.MachineName, Read("/proc/sys/kernel/osrelease"), cpu, Environment.ProcessorCount, LoadAverage(), tools);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>Full path of a tool on PATH or in the sbin directories, or null.</summary>
    internal static string? FindTool(string tool)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return dirs.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}

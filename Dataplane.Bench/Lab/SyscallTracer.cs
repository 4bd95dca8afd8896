using System.Globalization;
using Control.Lab;

namespace Control.Bench;

/// <summary>
/// Counts the dataplane processes' syscalls in the benchmark's separate traced pass (tracing slows the target, so
/// the timed tests never run traced). Preferred: <c>perf stat -e raw_syscalls:sys_enter</c> plus per-syscall
/// tracepoints, which needs tracefs (mounted here if missing). Fallback: <c>strace -c -f</c>, which slows the daemon
/// badly, so its per-packet counts are still right but the pass's throughput is not.
/// </summary>
internal sealed class SyscallTracer
{
    private const string Tracefs = "/sys/kernel/tracing";
    private readonly Kind _kind;

    private SyscallTracer(Kind kind, string description)
    {
        _kind = kind;
        Description = description;
    }

    internal enum Kind
    {
        None,
        Perf,
        Strace,
    }

    public bool Available => _kind != Kind.None;

    /// <summary>Which method the traced pass uses, for the report.</summary>
    public string Description { get; }

    /// <summary>Picks perf if it can trace syscalls here (mounting tracefs if needed), else strace, else none.</summary>
    public static SyscallTracer Detect()
    {
        if (LabBenchmark.FindTool("perf") is not null)
        {
            if (!Directory.Exists(Path.Combine(Tracefs, "events", "raw_syscalls")))
                LabShell.Try($"mount -t tracefs nodev {Tracefs}");
            var probe = LabShell.Run("perf", ["stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"], timeout: TimeSpan.FromSeconds(20));
            if (probe.ExitCode == 0 && PerfStatResult.Parse(probe.StdErr)["raw_syscalls:sys_enter"] > 0)
                return new SyscallTracer(Kind.Perf, "syscalls counted by perf stat -e raw_syscalls:sys_enter (tracefs) in a separate pass");
        }
        if (LabBenchmark.FindTool("strace") is not null)
            return new SyscallTracer(Kind.Strace, "perf cannot trace syscalls here; syscalls counted by strace -c -f in a separate pass (strace slows the daemon; counts per packet stay valid)");
        return new SyscallTracer(Kind.None, "syscalls not counted: neither perf with tracefs nor strace is available");
    }

    /// <summary>
    /// Starts counting syscalls of <paramref name="pids"/> (all their threads) for <paramref name="seconds"/>. One
    /// session per daemon when the daemons are to be told apart: perf stat -p sums over its pids, and strace -c too.
    /// </summary>
    public Session Start(IReadOnlyList<int> pids, int seconds, IReadOnlyList<string> breakdown)
    {
        var pidList = string.Join(',', pids.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        var secs = seconds.ToString(CultureInfo.InvariantCulture);
        switch (_kind)
        {
            case Kind.Perf:
                var events = new List<string> { "raw_syscalls:sys_enter" };
                events.AddRange(breakdown.Where(n => Directory.Exists(Path.Combine(Tracefs, "events", "syscalls", "sys_enter_" + n)))
                    .Select(n => "syscalls:sys_enter_" + n));
                return new Session(_kind, BenchProcess.Start("perf", "stat", "-x,", "-e", string.Join(',', events), "-p", pidList, "--", "sleep", secs));
            case Kind.Strace:
                var args = new List<string> { "-s", "INT", secs, "strace", "-c", "-f" };
                foreach (var p in pids)
                    args.AddRange(["-p", p.ToString(CultureInfo.InvariantCulture)]);
                return new Session(_kind, BenchProcess.Start("timeout", [.. args]));
            default:
                throw new BenchException(Description);
        }
    }

    /// <summary>Syscall totals of one traced pass.</summary>
    /// <param name="ListsEverySyscall">
    /// strace's table names every syscall made, so a name it lacks was called 0 times; perf counts only the
    /// tracepoints it was given that exist here, so a name it lacks was not counted at all.
    /// </param>
    internal sealed record Counts(long Total, IReadOnlyDictionary<string, long> ByName, bool ListsEverySyscall)
    {
        /// <summary>Calls of <paramref name="names"/> together; null when one of them was not counted.</summary>
        public long? Sum(IEnumerable<string> names)
        {
            long sum = 0;
            foreach (var name in names)
            {
                if (ByName.TryGetValue(name, out long n))
                    sum += n;
                else if (!ListsEverySyscall)
                    return null;
            }
            return sum;
        }

        /// <summary>Both sets of counts together (two daemons traced in two sessions).</summary>
        public Counts Plus(Counts other)
        {
            var byName = new Dictionary<string, long>(ByName, StringComparer.Ordinal);
            foreach (var (name, n) in other.ByName)
                byName[name] = byName.GetValueOrDefault(name) + n;
            // A name missing from one perf session was not counted there, so the sum is only exhaustive if both are.
            return new Counts(Total + other.Total, byName, ListsEverySyscall && other.ListsEverySyscall);
        }
    }

    /// <summary>A running trace; <see cref="Finish"/> waits for it and returns the counts.</summary>
    internal sealed class Session(SyscallTracer.Kind kind, BenchProcess process) : IDisposable
    {
        private readonly SyscallTracer.Kind _kind = kind;

        public Counts Finish(TimeSpan timeout)
        {
            process.WaitForExit(timeout);
            return _kind == Kind.Perf ? FromPerf(process.StdErr) : ParseStrace(process.StdErr);
        }

        public void Dispose() => process.Dispose();
    }

    internal static Counts FromPerf(string csv)
    {
        var stat = PerfStatResult.Parse(csv);
        var byName = stat.Counts.Where(kv => kv.Key.StartsWith("syscalls:sys_enter_", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["syscalls:sys_enter_".Length..], kv => kv.Value, StringComparer.Ordinal);
        return new Counts(stat["raw_syscalls:sys_enter"], byName, ListsEverySyscall: false);
    }

    /// <summary>Parses strace -c's table: "% time  seconds  usecs/call  calls  errors  syscall", last line "total".</summary>
    internal static Counts ParseStrace(string table)
    {
        long total = 0;
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in table.Split('\n'))
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length < 5 || !double.TryParse(t[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                || !long.TryParse(t[3], NumberStyles.None, CultureInfo.InvariantCulture, out long calls))
                continue;
            if (t[^1] == "total")
                total = calls;
            else
                byName[t[^1]] = calls;
        }
        return new Counts(total, byName, ListsEverySyscall: true);
    }
}

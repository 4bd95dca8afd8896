using System.Globalization;

namespace Control.Bench;

/// <summary>
/// A snapshot of the CPU and context-switch counters the benchmark divides by bytes: the dataplane processes'
/// utime+stime (/proc/PID/stat fields 14 and 15) and voluntary/involuntary context switches summed over all their
/// threads (/proc/PID/task/*/status), and the whole machine's busy and softirq time and context switches (/proc/stat).
/// </summary>
internal sealed record ProcCounters(
    double ProcessCpuSeconds,
    long VoluntarySwitches,
    long InvoluntarySwitches,
    double MachineBusySeconds,
    double MachineSoftirqSeconds,
    long MachineContextSwitches)
{
    /// <summary>USER_HZ: the unit of /proc tick counters; 100 on every Linux architecture's user ABI.</summary>
    private const double TicksPerSecond = 100.0;

    /// <summary>Reads the counters for <paramref name="pids"/> (processes that vanished count as zero).</summary>
    public static ProcCounters Read(IReadOnlyList<int> pids)
    {
        double cpu = CpuSecondsOf(pids);
        long vcs = 0, ivcs = 0;
        foreach (var pid in pids)
        {
            var (v, iv) = ThreadSwitches(pid);
            vcs += v;
            ivcs += iv;
        }
        var (busy, softirq, ctxt) = Machine();
        return new ProcCounters(cpu, vcs, ivcs, busy, softirq, ctxt);
    }

    /// <summary>Counter increases from <paramref name="before"/> to this snapshot.</summary>
    public ProcCounters Since(ProcCounters before) => new(
        ProcessCpuSeconds - before.ProcessCpuSeconds,
        VoluntarySwitches - before.VoluntarySwitches,
        InvoluntarySwitches - before.InvoluntarySwitches,
        MachineBusySeconds - before.MachineBusySeconds,
        MachineSoftirqSeconds - before.MachineSoftirqSeconds,
        MachineContextSwitches - before.MachineContextSwitches);

    /// <summary>utime + stime of <paramref name="pids"/> together (processes that vanished count as zero).</summary>
    public static double CpuSecondsOf(IReadOnlyList<int> pids) => pids.Sum(ReadProcessCpuSeconds);

    /// <summary>utime + stime of the whole process (all threads, live and exited).</summary>
    public static double ReadProcessCpuSeconds(int pid)
    {
        var text = ReadOrNull($"/proc/{pid}/stat");
        if (text is null)
            return 0;
        // Field 2 (comm) is parenthesised and may contain spaces; fields after the last ')' start at field 3.
        var rest = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(rest[14 - 3], CultureInfo.InvariantCulture) + long.Parse(rest[15 - 3], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    /// <summary>Voluntary and involuntary context switches summed over the live threads of <paramref name="pid"/>.</summary>
    public static (long Voluntary, long Involuntary) ThreadSwitches(int pid)
    {
        long v = 0, iv = 0;
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (IOException)
        {
            return (0, 0);
        }
        catch (UnauthorizedAccessException)
        {
            return (0, 0);
        }
        foreach (var task in tasks)
        {
            var status = ReadOrNull(Path.Combine(task, "status"));
            if (status is null)
                continue;
            foreach (var line in status.Split('\n'))
            {
                if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                    v += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    iv += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
            }
        }
        return (v, iv);
    }

    /// <summary>/proc/stat: busy seconds (all but idle and iowait), softirq seconds, context switches since boot.</summary>
    public static (double Busy, double Softirq, long ContextSwitches) Machine()
    {
        double busy = 0, softirq = 0;
        long ctxt = 0;
        foreach (var line in File.ReadLines("/proc/stat"))
        {
            if (line.StartsWith("cpu ", StringComparison.Ordinal))
            {
                // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user).
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                    .Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / TicksPerSecond;
                softirq = f[6] / TicksPerSecond;
            }
            else if (line.StartsWith("ctxt ", StringComparison.Ordinal))
            {
                ctxt = long.Parse(line.AsSpan(5), CultureInfo.InvariantCulture);
            }
        }
        return (busy, softirq, ctxt);
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

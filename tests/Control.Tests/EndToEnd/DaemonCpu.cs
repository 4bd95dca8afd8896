using System.Globalization;

namespace Control.Tests.EndToEnd;

/// <summary>CPU time of a process and of its named threads, from /proc.</summary>
internal static class DaemonCpu
{
    /// <summary>USER_HZ: the unit of utime/stime in /proc/*/stat (100 on every mainstream Linux build).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>Thread id of the thread named <paramref name="name"/> (its comm), or null.</summary>
    public static int? ThreadId(int pid, string name)
    {
        foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == name)
                    return int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }
        return null;
    }

    /// <summary>On-CPU time of one thread in ns (schedstat's sum_exec_runtime: ns resolution, unlike stat's ticks).</summary>
    public static long ThreadNs(int pid, int tid) =>
        long.Parse(File.ReadAllText($"/proc/{pid}/task/{tid}/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>utime + stime of the whole process (all threads), in µs (10 ms resolution).</summary>
    public static double ProcessMicroseconds(int pid)
    {
        var (user, system) = UserSystem($"/proc/{pid}/stat");
        return user + system;
    }

    /// <summary>utime and stime of one thread, in µs (10 ms resolution): how the pump's time splits between C# and the kernel.</summary>
    public static (double User, double System) ThreadUserSystem(int pid, int tid) => UserSystem($"/proc/{pid}/task/{tid}/stat");

    private static (double User, double System) UserSystem(string statPath)
    {
        var stat = File.ReadAllText(statPath);
        // Fields after "(comm)" start at field 3 (state); utime and stime are fields 14 and 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long utime = long.Parse(fields[14 - 3], CultureInfo.InvariantCulture);
        long stime = long.Parse(fields[15 - 3], CultureInfo.InvariantCulture);
        return (utime / TicksPerSecond * 1e6, stime / TicksPerSecond * 1e6);
    }
}

using System.Diagnostics;

namespace Dataplane.Testing;

/// <summary>
/// Prerequisite checks for tests that need root, /dev/net/tun, network namespaces or external tools.
/// Locally a missing prerequisite skips the test (Assert.Ignore, with the reason). Under CI=true it fails
/// the test instead: a green CI with the end-to-end tests skipped proves nothing.
/// </summary>
public static class Prerequisites
{
    /// <summary>True when running under CI (the environment variable CI is "true").</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Skips (locally) or fails (CI) with <paramref name="reason"/>.</summary>
    public static void Missing(string reason)
    {
        if (InCi)
            Assert.Fail($"prerequisite missing under CI=true: {reason}");
        Assert.Ignore($"skipped: {reason}");
    }

    /// <summary>Requires uid 0.</summary>
    public static void RequireRoot()
    {
        if (Environment.UserName != "root" && !IsUidZero())
            Missing("needs root (network namespaces, TUN, netlink)");
    }

    /// <summary>Requires root, /dev/net/tun and the ip tool.</summary>
    public static void RequireNetns()
    {
        RequireRoot();
        RequireTool("ip");
        if (!File.Exists("/dev/net/tun"))
            Missing("/dev/net/tun is not present");
    }

    /// <summary>Requires an executable on PATH (or an absolute path).</summary>
    public static void RequireTool(string tool)
    {
        if (FindTool(tool) is null)
            Missing($"tool '{tool}' is not installed (.ci/run installs it)");
    }

    /// <summary>Full path of a tool, or null.</summary>
    public static string? FindTool(string tool)
    {
        if (Path.IsPathRooted(tool))
            return File.Exists(tool) ? tool : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        foreach (var dir in new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" })
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static bool IsUidZero()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0";
        }
        catch (IOException)
        {
        }
        return false;
    }
}

using Control.Bench;

namespace Control.Tests.Bench;

/// <summary>Shared set-up for tests that run the benchmark: where the dataplane executable is, and the lab's state dir.</summary>
internal static class BenchHarness
{
    /// <summary>
    /// Under the test host, Environment.ProcessPath is dotnet and the entry assembly is the test host, so point the lab
    /// at the dataplane executable copied beside the tests (unless the caller chose one).
    /// </summary>
    public static void UseBuiltDataplane()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DATAPLANE_EXE")))
            return;
        // The build names the apphost after the assembly (Dataplane.Control); only Control's own output also has "dataplane".
        foreach (var name in new[] { "Dataplane.Control", "dataplane" })
        {
            var apphost = Path.Combine(AppContext.BaseDirectory, name);
            if (File.Exists(apphost))
            {
                Environment.SetEnvironmentVariable("DATAPLANE_EXE", apphost);
                return;
            }
        }
    }

    public static void RequireBenchTools()
    {
        Dataplane.Testing.Prerequisites.RequireNetns();
        foreach (var tool in new[] { "iperf3", "sockperf", "ping", "ss" })
            Dataplane.Testing.Prerequisites.RequireTool(tool);
        if (!Directory.Exists("/usr/lib/cni") || !File.Exists("/usr/lib/cni/bridge"))
            Dataplane.Testing.Prerequisites.Missing("CNI plugins (/usr/lib/cni/bridge) are not installed");
    }

    /// <summary>A benchmark on its own state directory (namespace names still follow DATAPLANE_LAB_PREFIX).</summary>
    public static LabBenchmark NewBenchmark() =>
        new(new Control.Lab.LabLayout(Path.Combine(Path.GetTempPath(), "dpt-bench-" + Guid.NewGuid().ToString("N")[..8])));
}

using System.Diagnostics;
using System.Text.Json.Nodes;
using Control.Lab;
using Dataplane.Testing;

namespace Control.Tests.Lab;

/// <summary>
/// Helpers for end-to-end tests on the namespace lab: each test builds its own lab (own state dir), and tears it down
/// in TearDown, also when it fails. The daemons are the real <c>dataplane run</c> processes.
/// </summary>
internal static class LabTesting
{
    public static void RequireLabTools()
    {
        Prerequisites.RequireNetns();
        foreach (var tool in new[] { "ping", "iperf3", "tcpdump", "iptables", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local" })
            Prerequisites.RequireTool(tool);
    }

    public static Control.Lab.Lab NewLab(out string stateDir)
    {
        stateDir = Path.Combine(Path.GetTempPath(), "dpt-lab-" + Guid.NewGuid().ToString("N")[..8]);
        return new Control.Lab.Lab(new LabLayout(stateDir), TestContext.Out);
    }

    public static LabOptions Options(int nodes = 2, bool ipMasq = false) => new()
    {
        Nodes = nodes,
        IpMasq = ipMasq,
        DataplaneCommand = ["dotnet", DataplaneProcess.Dll],
    };

    /// <summary>Runs a command in a namespace, bounded.</summary>
    public static LabShell.Result InNs(string ns, params string[] args) =>
        LabShell.Run("ip", ["netns", "exec", ns, .. args], timeout: TimeSpan.FromSeconds(60));

    public static bool Ping(string fromNs, string address, int count = 1, double timeoutSeconds = 1, int size = 56) =>
        InNs(fromNs, "ping", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-W",
            timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-s",
            size.ToString(System.Globalization.CultureInfo.InvariantCulture), "-M", "do", address).ExitCode == 0;

    /// <summary>Polls <paramref name="condition"/> every 50 ms; returns the elapsed time, or null at <paramref name="limit"/>.</summary>
    public static TimeSpan? Poll(Func<bool> condition, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            if (condition())
                return sw.Elapsed;
            Thread.Sleep(50);
        }
        return null;
    }

    /// <summary>iperf3 from one pod to another (TCP, or UDP at a fixed rate); returns the parsed JSON "end" object.</summary>
    public static JsonNode Iperf(string clientNs, string serverNs, string serverAddress, bool udp = false, bool reverse = false, int seconds = 1)
    {
        var server = InNs(serverNs, "iperf3", "-s", "-D", "-1", "-B", serverAddress);
        Assert.That(server.ExitCode, Is.Zero, server.StdErr);
        Thread.Sleep(200);
        var args = new List<string> { "iperf3", "-c", serverAddress, "-t", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-J" };
        if (udp)
            args.AddRange(["-u", "-b", "20M", "-l", "1000"]);
        if (reverse)
            args.Add("-R");
        var client = InNs(clientNs, [.. args]);
        Assert.That(client.ExitCode, Is.Zero, $"iperf3 {string.Join(' ', args)}: {client.StdErr} {client.StdOut}");
        return JsonNode.Parse(client.StdOut)!["end"]!;
    }
}

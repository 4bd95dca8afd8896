using System.Text.Json.Nodes;
using System.Globalization;

namespace Control.Lab;

/// <summary>
/// The README's first command: bring the lab up, show pod 1 reaching pod 2 through the dataplane (ping and a short
/// TCP transfer, with the figures), show the leases, routes and counters, and tear everything down again.
/// </summary>
internal static class LabDemo
{
    public static int Run(Lab lab, LabOptions options, TextWriter output)
    {
        try
        {
            output.WriteLine($"== building a {options.Nodes}-node lab ({options.Backend} backend, {(options.Store == "etcd" ? "etcd" : "embedded")} lease store) in network namespaces");
            lab.Up(options);
            output.Write(lab.Status());
            string a = lab.PodAddress(1), b = lab.PodAddress(2);

            output.WriteLine($"\n== ping pod 1 ({a}) -> pod 2 ({b}) through the dataplane");
            var ping = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(1), "ping", "-c", "5", "-i", "0.2", "-W", "2", b]);
            output.Write(ping.StdOut);
            if (ping.ExitCode != 0)
                throw new LabException($"ping failed: {ping.StdErr.Trim()}\nnode 1 log:\n{lab.TailLog(1)}\nnode 2 log:\n{lab.TailLog(2)}");

            output.WriteLine($"\n== TCP pod 1 -> pod 2 (iperf3, 3 s, one stream)");
            var server = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(2), "iperf3", "-s", "-D", "-1", "-B", b]);
            if (server.ExitCode != 0)
                throw new LabException($"iperf3 server failed: {server.StdErr.Trim()}");
            Thread.Sleep(300);
            var client = LabShell.Run("ip", ["netns", "exec", LabLayout.PodNamespace(1), "iperf3", "-c", b, "-t", "3", "-J"], timeout: TimeSpan.FromSeconds(30));
            if (client.ExitCode != 0)
                throw new LabException($"iperf3 failed: {client.StdErr.Trim()} {client.StdOut.Trim()}");
            var json = JsonNode.Parse(client.StdOut);
            double bps = json?["end"]?["sum_received"]?["bits_per_second"]?.GetValue<double>() ?? 0;
            long retransmits = json?["end"]?["sum_sent"]?["retransmits"]?.GetValue<long>() ?? 0;
            double bytes = json?["end"]?["sum_received"]?["bytes"]?.GetValue<double>() ?? 0;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"received {bytes / 1e6:0.0} MB in 3 s: {bps / 1e9:0.000} Gbit/s, {retransmits} retransmits"));

            output.WriteLine("\n== leases and routes");
            output.Write(lab.Status());
            output.WriteLine("\n== stopping the daemons (SIGTERM): each logs its packet and drop counters");
            for (int i = 1; i <= options.Nodes; i++)
            {
                lab.StopDaemon(i);
                var counters = lab.TailLog(i, 10).Split('\n').LastOrDefault(l => l.Contains("Data path stopped", StringComparison.Ordinal)) ?? lab.TailLog(i, 1);
                output.WriteLine($"-- node {i}: {counters[(counters.IndexOf("Data path", StringComparison.Ordinal) is int k and >= 0 ? k : 0)..]}");
            }
            return ExitCodes.Ok;
        }
        finally
        {
            output.WriteLine("\n== tearing the lab down");
            lab.Down();
            output.WriteLine($"done: no {LabLayout.Prefix}* namespaces left");
        }
    }
}

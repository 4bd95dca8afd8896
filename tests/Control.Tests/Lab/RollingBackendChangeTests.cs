using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Control.Lab;

namespace Control.Tests.Lab;

/// <summary>
/// A rolling change of the network config from udp to vxlan across three of our nodes, restarted one at a time, with a
/// TCP transfer running between every pair: per-peer encapsulation keeps every pair talking while the cluster is mixed,
/// so each transfer's longest gap (1-s intervals without data) is no longer than the restart of one of its own two ends
/// plus 2 s, and no transfer stalls on MTU (the pods keep udp's 1472 throughout; the vxlan nodes answer what does not
/// fit VXLAN with fragmentation-needed).
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class RollingBackendChangeTests : LabTestBase
{
    private const int Seconds = 36;

    [Test, CancelAfter(180_000)]
    public void UdpToVxlan_OneNodeAtATime_EveryPairKeepsItsTransfer()
    {
        Lab.Up(LabTesting.Options(nodes: 3) with { Backend = "udp" });
        var pairs = new[] { (1, 2, 5201), (1, 3, 5202), (2, 3, 5203) };
        foreach (var (_, server, port) in pairs)
        {
            var r = LabTesting.InNs(Pod(server), "iperf3", "-s", "-D", "-1", "-p", port.ToString(CultureInfo.InvariantCulture), "-B", Lab.PodAddress(server));
            Assert.That(r.ExitCode, Is.Zero, r.StdErr);
        }
        Thread.Sleep(300);
        var clock = Stopwatch.StartNew();
        var transfers = pairs.Select(p => Task.Run(() => LabShell.Run("ip",
            ["netns", "exec", Pod(p.Item1), "iperf3", "-c", Lab.PodAddress(p.Item2), "-p", p.Item3.ToString(CultureInfo.InvariantCulture),
             "-t", Seconds.ToString(CultureInfo.InvariantCulture), "-i", "1", "-J", "-b", "200M"],
            timeout: TimeSpan.FromSeconds(Seconds + 30)))).ToArray();

        Thread.Sleep(4000);
        File.WriteAllText(Path.Combine(Lab.Layout.LeaseDir, "config"), "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}}\n");
        var restart = new double[4];
        var options = LabTesting.Options(nodes: 3) with { Backend = "vxlan" };
        for (int i = 1; i <= 3; i++)
        {
            var started = clock.Elapsed;
            Lab.StopDaemon(i);
            File.Delete(Lab.Layout.SubnetFile(i)); // StartDaemon waits for the new daemon's subnet.env
            Lab.StartDaemon(i, options);
            restart[i] = (clock.Elapsed - started).TotalSeconds;
            TestContext.Out.WriteLine($"node {i} restarted as vxlan in {restart[i]:0.00} s (t = {started.TotalSeconds:0.0} s)");
            Assert.That(File.ReadAllText(Lab.Layout.SubnetFile(i)), Does.Contain("FLANNEL_MTU=1450"));
            Thread.Sleep(5000);
        }
        Assert.That(Task.WaitAll(transfers, TimeSpan.FromSeconds(Seconds + 40)), Is.True, "transfers ended");

        var failures = new List<string>();
        foreach (var ((a, b, _), task) in pairs.Zip(transfers))
        {
            var result = task.Result;
            var json = JsonNode.Parse(result.StdOut);
            if (json?["error"] is { } error || json is null)
            {
                failures.Add($"pair {a}-{b}: iperf3 failed: {json?["error"]} {result.StdErr}");
                continue;
            }
            var intervals = json["intervals"]!.AsArray().Select(x => x!["sum"]!["bytes"]!.GetValue<double>()).ToList();
            // A gap second carries under 5% of the transfer's median second (a few retransmitted segments are not flow).
            double median = intervals.Order().ElementAt(intervals.Count / 2);
            int longest = 0, run = 0;
            foreach (var bytes in intervals)
            {
                run = bytes < median * 0.05 ? run + 1 : 0;
                longest = Math.Max(longest, run);
            }
            double bound = Math.Max(restart[a], restart[b]) + 2;
            TestContext.Out.WriteLine($"pair {a}-{b}: {intervals.Count} intervals, longest gap {longest} s (bound {bound:0.0} s), " +
                $"last {intervals[^1] / 1e6:0.0} MB, per second: {string.Join(' ', intervals.Select(x => (x / 1e6).ToString("0", CultureInfo.InvariantCulture)))}");
            if (longest > bound)
                failures.Add($"pair {a}-{b}: gap {longest} s > {bound:0.0} s");
            if (intervals[^1] < median * 0.5)
                failures.Add($"pair {a}-{b}: stalled at the end (MTU?)");
        }
        Assert.That(failures, Is.Empty);
        for (int i = 1; i <= 3; i++)
        {
            Assert.That(JsonNode.Parse(File.ReadAllText(LeasePath(SubnetOf(i))))!["BackendType"]!.GetValue<string>(), Is.EqualTo("vxlan"));
            Assert.That(LabTesting.InNs(Node(i), "ss", "-uln").StdOut, Does.Not.Contain(":8285"), $"node {i}: no udp peer left, no 8285 socket");
        }
    }
}

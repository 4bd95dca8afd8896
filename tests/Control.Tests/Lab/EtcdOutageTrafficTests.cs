using System.Diagnostics;
using System.Text.RegularExpressions;
using Control.Lab;
using Dataplane.Testing;

namespace Control.Tests.Lab;

/// <summary>
/// Issue 14's "etcd down" promise on the real data path: two of our udp nodes on the lab's etcd (one member in the
/// underlay namespace, reached over the nodes' eth0), pod-to-pod traffic, and etcd killed for longer than the lease TTL
/// (<c>--unsafe-lease-ttl 6s</c>: a renewal falls due every 3 s, so several fall due during the outage). Forwarding
/// must go on with the last known table, the daemons must stay up and say so once (debug logging on, so the retries
/// are visible and the "once" is meaningful), and when etcd returns they resync without a restart: a node that joins
/// after the outage reaches both of them. The second test runs a three-member cluster in the underlay namespace and
/// kills its leader, which every node holds a connection to, under the same traffic.
/// </summary>
[TestFixture, Category("Privileged"), Category("Etcd"), NonParallelizable]
public partial class EtcdOutageTrafficTests : LabTestBase
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(12);

    protected override IEnumerable<string> ExtraTools => ["etcd", "etcdctl"];

    private string DaemonLog(int i) => File.Exists(Lab.Layout.DaemonLog(i)) ? File.ReadAllText(Lab.Layout.DaemonLog(i)) : "";

    private int Lines(int node, string text) => DaemonLog(node).Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    [GeneratedRegex(@"(\d+) packets transmitted, (\d+) received")]
    private static partial Regex PingSummary();

    /// <summary>
    /// The background ping's summary: a route or peer lost with etcd would cost every ping from then on; three lost
    /// (0.6 s) cover a busy shared machine.
    /// </summary>
    private static void AssertPingsAnswered(LabShell.Result pings, string when)
    {
        var summary = PingSummary().Match(pings.StdOut);
        Assert.That(summary.Success, Is.True, pings.StdOut + pings.StdErr);
        int sent = int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int received = int.Parse(summary.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine($"pod 1 -> pod 2 {when}: {received}/{sent} answered");
        Assert.That(sent - received, Is.LessThanOrEqualTo(3), $"pings answered {when}:\n{pings.StdOut}");
    }

    [Test, CancelAfter(240_000)]
    public void Etcd_killed_under_traffic_forwarding_goes_on_the_daemons_stay_up_log_once_and_resync_when_it_returns()
    {
        var options = LabTesting.Options(nodes: 2) with { Store = "etcd", DaemonArgs = ["--unsafe-lease-ttl", "6s", "-v", "1"] };
        Lab.Up(options);
        var pids = new[] { Lab.DaemonPids(1).Order().ToList(), Lab.DaemonPids(2).Order().ToList() };
        var pod1 = Lab.PodAddress(1);
        var pod2 = Lab.PodAddress(2);

        // 100 pings at 5 a second (20 s) spanning the whole outage and the recovery.
        var ping = Task.Run(() => LabTesting.InNs(Pod(1), "ping", "-c", "100", "-i", "0.2", "-W", "1", pod2));
        Thread.Sleep(1500);

        var killed = Lab.KillEtcd();
        var sw = Stopwatch.StartNew();
        TestContext.Out.WriteLine($"etcd killed (pid {string.Join(',', killed)})");
        foreach (var node in new[] { 1, 2 })
        {
            int n = node;
            var noticed = LabTesting.Poll(() => Lines(n, "Lost contact with etcd") > 0, TimeSpan.FromSeconds(30));
            var renewalFailed = LabTesting.Poll(() => Lines(n, "Error renewing lease") > 0, TimeSpan.FromSeconds(30));
            TestContext.Out.WriteLine($"node {n}: outage noticed by the watch at {noticed?.TotalMilliseconds:0} ms, a renewal fell due and failed by {renewalFailed?.TotalMilliseconds:0} ms");
            Assert.That(noticed, Is.Not.Null, $"node {n} notices the outage:\n{DaemonLog(n)}");
            Assert.That(renewalFailed, Is.Not.Null, $"node {n}'s renewal falls due during the outage:\n{DaemonLog(n)}");
        }

        // A bounded TCP transfer in the middle of the outage, the other way round from the pings.
        var tcp = LabTesting.Iperf(Pod(2), Pod(1), pod1, seconds: 2);
        var bytes = tcp["sum_received"]!["bytes"]!.GetValue<double>();
        TestContext.Out.WriteLine($"TCP pod 2 -> pod 1 with etcd down: {bytes / 1e6:0.0} MB, {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
        Assert.That(bytes, Is.GreaterThan(1_000_000), "TCP flows with etcd down");

        // Longer than the TTL: every renewal in this window fails and is retried.
        if (sw.Elapsed < Outage)
            Thread.Sleep(Outage - sw.Elapsed);
        for (int node = 1; node <= 2; node++)
        {
            Assert.That(Lab.DaemonPids(node).Order().ToList(), Is.EqualTo(pids[node - 1]), $"node {node}'s daemon is still the same process:\n{DaemonLog(node)}");
            var retries = Lines(node, "Renewal attempt") + Lines(node, "Still cannot reach");
            TestContext.Out.WriteLine($"node {node} after {sw.Elapsed.TotalSeconds:0.0} s of outage: {retries} retries logged at debug level");
            Assert.That(retries, Is.GreaterThan(0), $"node {node} kept retrying:\n{DaemonLog(node)}");
            Assert.That(Lines(node, "Lost contact with etcd"), Is.EqualTo(1), $"node {node}: the outage is logged once, not per retry:\n{DaemonLog(node)}");
            Assert.That(Lines(node, "Error renewing lease"), Is.EqualTo(1), $"node {node}: the failing renewal is logged once, not per retry:\n{DaemonLog(node)}");
        }

        Lab.LaunchEtcd();
        var back = Stopwatch.StartNew();
        foreach (var node in new[] { 1, 2 })
        {
            int n = node;
            var resynced = LabTesting.Poll(() => Lines(n, "again after") > 0 && Lines(n, "Renewal succeeded after") > 0, TimeSpan.FromSeconds(30));
            TestContext.Out.WriteLine($"node {n}: watch resynced and renewal succeeded {resynced?.TotalMilliseconds:0} ms after etcd returned");
            Assert.That(resynced, Is.Not.Null, $"node {n} resyncs with etcd and renews again:\n{DaemonLog(n)}");
        }

        AssertPingsAnswered(ping.Result, "across the outage and the recovery");

        // A lease change after the outage reaches both daemons through their resumed watches: node 3 joins.
        Lab.AddNode(3);
        Lab.StartDaemon(3, options);
        var pod3 = Lab.AttachPod(3);
        var subnet3 = SubnetOf(3).ToString();
        foreach (var node in new[] { 1, 2 })
        {
            int n = node;
            var reached = LabTesting.Poll(() => LabTesting.Ping(Pod(n), pod3, timeoutSeconds: 0.5) && LabTesting.Ping(Pod(3), Lab.PodAddress(n), timeoutSeconds: 0.5), TimeSpan.FromSeconds(15));
            TestContext.Out.WriteLine($"pod {n} <-> pod 3 (joined {back.Elapsed.TotalSeconds:0.0} s after etcd returned): {reached?.TotalMilliseconds:0} ms");
            Assert.That(reached, Is.Not.Null, $"node {n} learned node 3's lease after the outage:\n{DaemonLog(n)}");
            Assert.That(DaemonLog(n), Does.Contain("Lease Added: " + subnet3), $"node {n}'s watch reported node 3's lease");
            Assert.That(Lab.DaemonPids(n).Order().ToList(), Is.EqualTo(pids[n - 1]), $"node {n} was never restarted");
        }
    }

    [Test, CancelAfter(300_000)]
    public void Killing_the_etcd_member_a_node_talks_to_under_traffic_moves_it_to_another_member()
    {
        // A three-member cluster in the underlay namespace (heartbeat/election raised for the 2 shared cores, data on
        // tmpfs: EtcdCluster), the nodes given all three endpoints, as a real cluster's nodes are.
        var options = LabTesting.Options(nodes: 2) with
        {
            Store = "etcd", StartDaemons = false, EtcdEndpoints = "(set below)", DaemonArgs = ["--unsafe-lease-ttl", "6s", "-v", "1"],
        };
        Lab.Up(options);
        string[] hosts = ["198.18.0.251", "198.18.0.252", "198.18.0.253"];
        foreach (var host in hosts)
            Sh(LabLayout.UnderlayNamespace, $"ip addr add {host}/24 dev br0");
        using var etcd = EtcdCluster.Start(size: 3, hosts: hosts, netns: LabLayout.UnderlayNamespace);
        etcd.Ctl("put", LabLayout.EtcdPrefix + "/config", """{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}""").Check("put config");
        options = options with { EtcdEndpoints = etcd.Endpoints, StartDaemons = true };
        for (int i = 1; i <= 2; i++)
            Lab.StartDaemon(i, options);
        for (int i = 1; i <= 2; i++)
            Lab.AttachPod(i);
        Lab.WaitConverged(2, TimeSpan.FromSeconds(15));
        var pids = new[] { Lab.DaemonPids(1).Order().ToList(), Lab.DaemonPids(2).Order().ToList() };

        // The victim: the leader (the worst member to lose: an election on top of the lost connections), checked to be
        // one node 1 holds a connection to (the client balances its calls over every endpoint).
        var status = System.Text.Json.JsonDocument.Parse(etcd.Ctl("endpoint", "status", "--write-out=json").Check("endpoint status").StdOut).RootElement;
        var leader = status.EnumerateArray().Single(e => e.GetProperty("Status").GetProperty("header").GetProperty("member_id").GetUInt64() == e.GetProperty("Status").GetProperty("leader").GetUInt64());
        var victim = etcd.ClientUrls.ToList().IndexOf(leader.GetProperty("Endpoint").GetString()!);
        var victimUri = new Uri(etcd.ClientUrls[victim]);
        var connections = LabTesting.InNs(Node(1), "ss", "-Htn", "state", "established").StdOut;
        TestContext.Out.WriteLine($"leader: member {victim} ({victimUri}); node 1's connections:\n{connections}");
        Assert.That(connections, Does.Contain($"{victimUri.Host}]:{victimUri.Port}").Or.Contain($"{victimUri.Host}:{victimUri.Port}"), "node 1 talks to the leader");

        var ping = Task.Run(() => LabTesting.InNs(Pod(1), "ping", "-c", "100", "-i", "0.2", "-W", "1", Lab.PodAddress(2)));
        Thread.Sleep(1500);
        etcd.Kill(victim);
        var sw = Stopwatch.StartNew();
        var renewedBefore = new[] { Lines(1, "Lease renewed"), Lines(2, "Lease renewed") };
        TestContext.Out.WriteLine($"killed member {victim} ({etcd.ClientUrls[victim]})");

        // Renewals (due every 3 s) go on against the surviving members.
        foreach (var node in new[] { 1, 2 })
        {
            int n = node;
            var renewed = LabTesting.Poll(() => Lines(n, "Lease renewed") > renewedBefore[n - 1] + 1, TimeSpan.FromSeconds(30));
            TestContext.Out.WriteLine($"node {n}: renewed twice more by {(renewed is null ? "never" : sw.ElapsedMilliseconds + " ms")} after the kill");
            Assert.That(renewed, Is.Not.Null, $"node {n} renews on the surviving members:\n{DaemonLog(n)}");
        }

        var tcp = LabTesting.Iperf(Pod(2), Pod(1), Lab.PodAddress(1), seconds: 2);
        TestContext.Out.WriteLine($"TCP pod 2 -> pod 1 with a member down: {tcp["sum_received"]!["bytes"]!.GetValue<double>() / 1e6:0.0} MB");
        Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));

        // A lease change with the member still down reaches both nodes' watches: node 3 joins.
        Lab.AddNode(3);
        Lab.StartDaemon(3, options);
        var pod3 = Lab.AttachPod(3);
        foreach (var node in new[] { 1, 2 })
        {
            int n = node;
            var reached = LabTesting.Poll(() => LabTesting.Ping(Pod(n), pod3, timeoutSeconds: 0.5) && LabTesting.Ping(Pod(3), Lab.PodAddress(n), timeoutSeconds: 0.5), TimeSpan.FromSeconds(15));
            TestContext.Out.WriteLine($"pod {n} <-> pod 3 (joined {sw.Elapsed.TotalSeconds:0.0} s after the kill): {reached?.TotalMilliseconds:0} ms");
            Assert.That(reached, Is.Not.Null, $"node {n}'s watch moved to a live member and saw node 3:\n{DaemonLog(n)}");
        }

        AssertPingsAnswered(ping.Result, "across the member's death");
        for (int node = 1; node <= 2; node++)
        {
            TestContext.Out.WriteLine($"node {node}: 'Lost contact' lines {Lines(node, "Lost contact with etcd")}, failed renewals logged {Lines(node, "Error renewing lease")}");
            Assert.That(Lab.DaemonPids(node).Order().ToList(), Is.EqualTo(pids[node - 1]), $"node {node} was never restarted:\n{DaemonLog(node)}");
            Assert.That(Lines(node, "Lost contact with etcd"), Is.LessThanOrEqualTo(1), $"node {node}: at most one outage line:\n{DaemonLog(node)}");
        }
    }
}

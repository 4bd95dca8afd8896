using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Control.Lab;
using Control.Observe;
using Control.Tests.Lab;
using Dataplane.Testing;
using Dataplane.Tun;

namespace Control.Tests.Observe;

/// <summary>
/// The three views end to end on the two-node lab (udp backend; daemons started with flanneld's argv and no verb, each
/// with its own --control-socket and --healthz-port 8081 in its own namespace): /metrics parses as Prometheus text and
/// its per-peer counters move with a transfer, <c>status --json</c> shows each node's peer and counters, and
/// <c>drops --follow</c> shows a stranger's datagram decoded with its reason.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class SeeingInsideTests
{
    private const int HealthzPort = 8081;
    private Control.Lab.Lab _lab = null!;
    private string _state = null!;

    [SetUp]
    public void SetUp()
    {
        LabTesting.RequireLabTools();
        Prerequisites.RequireTool("curl");
        _lab = LabTesting.NewLab(out _state);
    }

    private void Up(int nodes = 2) =>
        _lab.Up(LabTesting.Options(nodes) with { DaemonArgs = ["--healthz-port", HealthzPort.ToString(System.Globalization.CultureInfo.InvariantCulture)] });

    [TearDown]
    public void TearDown()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed && _lab is not null)
        {
            for (int i = 1; i <= 3; i++)
                TestContext.Out.WriteLine($"-- node {i} log:\n{_lab.TailLog(i, 30)}");
        }
        _lab?.Down();
    }

    private static string Node(int i) => LabLayout.NodeNamespace(i);

    private string Socket(int i) => _lab.Layout.ControlSocket(i);

    private static PrometheusText Scrape(int node, bool log = false)
    {
        var r = LabTesting.InNs(Node(node), "curl", "-sS", "--max-time", "5", $"http://127.0.0.1:{HealthzPort}/metrics");
        Assert.That(r.ExitCode, Is.Zero, r.StdErr);
        if (log)
            TestContext.Out.WriteLine($"-- node {node} /metrics:\n{r.StdOut}");
        return PrometheusText.Parse(r.StdOut);
    }

    private JsonElement Status(int node)
    {
        var r = DataplaneProcess.Run(["status", "--control-socket", Socket(node), "--json"]);
        Assert.That(r.Exit, Is.Zero, r.Err);
        return JsonDocument.Parse(r.Out).RootElement;
    }

    [Test]
    public void The_daemon_runs_with_flanneld_argv_and_no_verb_and_metrics_parse_and_move_with_a_transfer()
    {
        Up();
        var pid = _lab.DaemonPids(1).Single();
        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        int dll = Array.FindIndex(argv, a => a.EndsWith(".dll", StringComparison.Ordinal));
        Assert.That(argv[dll + 1], Is.EqualTo("--lease-dir"), "flags straight after the program: no verb: " + string.Join(' ', argv));
        var health = LabTesting.InNs(Node(1), "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", $"http://127.0.0.1:{HealthzPort}/readyz");
        Assert.That(health.StdOut.Trim(), Is.EqualTo("200"));

        string peer2 = LabLayout.UnderlayAddress(2), peer1 = LabLayout.UnderlayAddress(1);
        var subnet2 = Status(2).GetProperty("subnet").GetString()!;
        var before = Scrape(1);
        var peerLabels = new[] { ("peer", peer2), ("subnet", subnet2) };
        double sentBefore = before.Value("dataplane_peer_sent_bytes_total", peerLabels);
        double receivedBefore = before.Value("dataplane_peer_received_packets_total", peerLabels);
        Assert.That(before.Types["dataplane_peer_sent_bytes_total"], Is.EqualTo("counter"));
        Assert.That(before.Value("dataplane_forwarding_table_generation"), Is.GreaterThanOrEqualTo(1));
        Assert.That(before.Value("dataplane_lease_expiry_timestamp_seconds"), Is.GreaterThan(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        Assert.That(before.Value("dataplane_dropped_packets_total", ("reason", "UnknownSource")), Is.GreaterThanOrEqualTo(0));
        Assert.That(before.Value("dataplane_offload_enabled", ("offload", "tun_tso")), Is.EqualTo(1), "kernel defaults: offloads on");

        var end = LabTesting.Iperf(LabLayout.PodNamespace(1), LabLayout.PodNamespace(2), _lab.PodAddress(2));
        double transferred = end["sum_sent"]!["bytes"]!.GetValue<double>();
        TestContext.Out.WriteLine($"iperf3 sent {transferred} bytes pod 1 -> pod 2");

        var after = Scrape(1, log: true);
        double sent = after.Value("dataplane_peer_sent_bytes_total", peerLabels) - sentBefore;
        double acks = after.Value("dataplane_peer_received_packets_total", peerLabels) - receivedBefore;
        TestContext.Out.WriteLine($"node 1 counted {sent} bytes sent to {peer2}, {acks} datagrams back");
        // UDP payload = the inner packets: at least the TCP payload iperf sent, plus headers (not an exact bound, since
        // retransmissions count too).
        Assert.That(sent, Is.GreaterThanOrEqualTo(transferred));
        Assert.That(acks, Is.GreaterThan(0), "ACKs came back from the peer");
        Assert.That(after.Value("dataplane_peer_last_received_timestamp_seconds", peerLabels), Is.GreaterThan(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60));
        var node2 = Scrape(2);
        Assert.That(node2.Value("dataplane_peer_received_bytes_total", ("peer", peer1)), Is.GreaterThanOrEqualTo(transferred));
    }

    [Test]
    public void Status_json_shows_both_peers_and_their_counters_after_a_transfer_and_routes_lists_the_table()
    {
        // Three nodes: node 1's status shows both its peers, each with the traffic of its own transfer.
        Up(nodes: 3);
        LabTesting.Iperf(LabLayout.PodNamespace(2), LabLayout.PodNamespace(1), _lab.PodAddress(1));
        LabTesting.Iperf(LabLayout.PodNamespace(1), LabLayout.PodNamespace(3), _lab.PodAddress(3));
        var status = Status(1);
        TestContext.Out.WriteLine($"node 1: {status}");
        Assert.That(status.GetProperty("backend").GetString(), Is.EqualTo("udp"));
        Assert.That(status.GetProperty("io").GetString(), Is.EqualTo("batch"));
        Assert.That(status.GetProperty("ready").GetBoolean(), Is.True);
        Assert.That(status.GetProperty("offloads").GetProperty("tun_tso").GetBoolean(), Is.True);
        Assert.That(status.GetProperty("uptimeSeconds").GetDouble(), Is.GreaterThan(0));
        Assert.That(status.GetProperty("tableGeneration").GetInt64(), Is.GreaterThanOrEqualTo(1));
        var peers = status.GetProperty("peers").EnumerateArray().ToList();
        Assert.That(peers.Select(p => p.GetProperty("address").GetString()), Is.EquivalentTo(new[] { LabLayout.UnderlayAddress(2), LabLayout.UnderlayAddress(3) }));
        foreach (var (other, bulkIn) in new[] { (2, true), (3, false) })
        {
            var peer = peers.Single(p => p.GetProperty("address").GetString() == LabLayout.UnderlayAddress(other));
            Assert.That(peer.GetProperty("subnets")[0].GetString(), Is.EqualTo(Status(other).GetProperty("subnet").GetString()));
            long sent = peer.GetProperty("sentBytes").GetInt64(), received = peer.GetProperty("receivedBytes").GetInt64();
            Assert.That(peer.GetProperty("sentPackets").GetInt64(), Is.GreaterThan(0));
            Assert.That(peer.GetProperty("receivedPackets").GetInt64(), Is.GreaterThan(0));
            // The bulk direction of each transfer: from node 2 into node 1, from node 1 out to node 3 (the other way: ACKs).
            Assert.That(bulkIn ? received : sent, Is.GreaterThan(10 * (bulkIn ? sent : received)), $"peer {other}: sent {sent} B, received {received} B");
            Assert.That(peer.GetProperty("lastReceived").GetDateTimeOffset(), Is.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(-1)));
            Assert.That(peer.GetProperty("lastSent").GetDateTimeOffset(), Is.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(-1)));
        }
        var human = DataplaneProcess.Run(["status", "--control-socket", Socket(1)]);
        Assert.That(human.Exit, Is.Zero, human.Err);
        TestContext.Out.WriteLine(human.Out);
        Assert.That(human.Out, Does.Contain(LabLayout.UnderlayAddress(2)).And.Contain("backend udp"));
        var routes = DataplaneProcess.Run(["routes", "--control-socket", Socket(1)]);
        Assert.That(routes.Exit, Is.Zero, routes.Err);
        TestContext.Out.WriteLine(routes.Out);
        Assert.That(routes.Out, Does.Contain(Status(2).GetProperty("subnet").GetString()).And.Contain($"{LabLayout.UnderlayAddress(2)}:8285"));
    }

    [Test]
    public void Drops_follow_shows_a_stranger_datagram_decoded_with_its_reason()
    {
        Up();
        var psi = DataplaneProcess.StartInfo(["drops", "--follow", "--count", "1", "--control-socket", Socket(1)]);
        using var follower = Process.Start(psi)!;
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        follower.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        follower.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("stderr: " + e.Data); };
        follower.BeginOutputReadLine();
        follower.BeginErrorReadLine();
        try
        {
            Assert.That(LabTesting.Poll(() => lines.Any(l => l.StartsWith("following drops", StringComparison.Ordinal)), TimeSpan.FromSeconds(30)),
                Is.Not.Null, string.Join('\n', lines));
            // A stranger on the underlay: an address on the lab's bridge that holds no lease sends a flannel-udp datagram
            // (a bare IPv4/UDP packet for a pod on node 1) to node 1's port 8285. Sent until the follower prints it.
            const string stranger = "198.18.0.77";
            var ul = LabLayout.UnderlayNamespace;
            var add = LabTesting.InNs(ul, "ip", "addr", "add", stranger + "/24", "dev", "br0");
            Assert.That(add.ExitCode, Is.Zero, add.StdErr);
            var inner = InnerUdp("10.244.99.9", _lab.PodAddress(1), 4242, 53);
            var seen = LabTesting.Poll(() =>
            {
                NetworkNamespace.Run(ul, () =>
                {
                    using var s = new System.Net.Sockets.Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    s.Bind(new IPEndPoint(IPAddress.Parse(stranger), 0));
                    s.SendTo(inner, new IPEndPoint(IPAddress.Parse(LabLayout.UnderlayAddress(1)), 8285));
                });
                return follower.WaitForExit(200);
            }, TimeSpan.FromSeconds(30));
            var output = string.Join('\n', lines);
            TestContext.Out.WriteLine(output);
            Assert.That(seen, Is.Not.Null, "drops --follow printed nothing: " + output);
            Assert.That(follower.ExitCode, Is.Zero, output);
            var line = lines.Single(l => l.Contains("UnknownSource", StringComparison.Ordinal));
            Assert.That(line, Does.Contain($"in from {stranger}:"));
            Assert.That(line, Does.Contain($"IPv4 10.244.99.9 > {_lab.PodAddress(1)}"));
            Assert.That(line, Does.Contain("UDP 4242 > 53"));
        }
        finally
        {
            if (!follower.HasExited)
                follower.Kill();
        }
    }

    /// <summary>A bare IPv4/UDP packet (a flannel-udp payload), checksums left to PacketDotNet.</summary>
    private static byte[] InnerUdp(string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        var udp = new PacketDotNet.UdpPacket(sourcePort, destinationPort) { PayloadData = "stranger"u8.ToArray() };
        var ip = new PacketDotNet.IPv4Packet(IPAddress.Parse(source), IPAddress.Parse(destination)) { PayloadPacket = udp, TimeToLive = 64 };
        udp.UpdateUdpChecksum();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }
}

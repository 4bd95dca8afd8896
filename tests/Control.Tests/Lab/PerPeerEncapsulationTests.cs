using System.Text.Json.Nodes;
using Dataplane.Packets;

namespace Control.Tests.Lab;

/// <summary>
/// Per-peer encapsulation (beyond flanneld): node 1 of ours runs udp, node 2 of ours vxlan, in one cluster. Each sends in
/// the format its peer's lease names (node 1 → node 2 VXLAN on 8472, node 2 → node 1 flannel-udp on 8285), the extra
/// socket is open only while such a peer exists, the vxlan node's TUN takes the larger MTU meanwhile, and a DF packet too
/// big for the peer's format gets ICMP fragmentation-needed.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class PerPeerEncapsulationTests : LabTestBase
{
    private string ConfigFile(string backend)
    {
        var path = Path.Combine(Lab.Layout.Root, $"net-conf-{backend}.json");
        File.WriteAllText(path, $"{{\"Network\":\"10.244.0.0/16\",\"Backend\":{{\"Type\":\"{backend}\"}}}}\n");
        return path;
    }

    private static string Mtu(int i, string device) => LabTesting.InNs(Node(i), "cat", $"/sys/class/net/{device}/mtu").StdOut.Trim();

    private static string UdpSockets(int i) => LabTesting.InNs(Node(i), "ss", "-uln").StdOut;

    [Test]
    public void UdpNodeAndVxlanNode_EachSendsThePeersFormat_ExtraSocketOnlyWhileNeeded_PmtudForTheSmallerFormat()
    {
        // Node 3 runs no daemon: it holds a vxlan lease, so it is a peer, but not one that may speak flannel-udp.
        var options = LabTesting.Options(nodes: 3) with { StartDaemons = false };
        Lab.Up(options);
        File.Delete(Path.Combine(Lab.Layout.LeaseDir, "config")); // each node reads its own --net-config-path
        File.WriteAllText(LeasePath(Ipv4Prefix.Parse("10.244.250.0/24")),
            "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"0a:bb:00:00:00:03\"}}");
        Lab.StartDaemon(1, options with { DaemonArgs = ["--net-config-path", ConfigFile("udp")] });
        Lab.StartDaemon(2, options with { DaemonArgs = ["--net-config-path", ConfigFile("vxlan")] });
        Lab.AttachPod(1);
        Lab.AttachPod(2);
        var s1 = SubnetOf(1);
        var s2 = SubnetOf(2);
        Assert.That(JsonNode.Parse(File.ReadAllText(LeasePath(s1)))!["BackendType"], Is.Null, "node 1 publishes udp");
        Assert.That(JsonNode.Parse(File.ReadAllText(LeasePath(s2)))!["BackendType"]!.GetValue<string>(), Is.EqualTo("vxlan"), "node 2 publishes vxlan");
        Assert.That(File.ReadAllText(Lab.Layout.SubnetFile(1)), Does.Contain("FLANNEL_MTU=1472"));
        Assert.That(File.ReadAllText(Lab.Layout.SubnetFile(2)), Does.Contain("FLANNEL_MTU=1450"));

        string a = Lab.PodAddress(1), b = Lab.PodAddress(2);
        using (var capture = Dataplane.Testing.PcapCapture.Start(Node(2), "eth0", "udp", timeout: TimeSpan.FromSeconds(60)))
        {
            Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(1), b, timeoutSeconds: 0.5), TimeSpan.FromSeconds(15)), Is.Not.Null, "udp node's pod -> vxlan node's pod");
            Assert.That(LabTesting.Ping(Pod(2), a, count: 3), Is.True, "vxlan node's pod -> udp node's pod");
            var frames = capture.Stop();
            var udp = frames.Select(f => (Ip: f.Extract<PacketDotNet.IPv4Packet>(), Udp: f.Extract<PacketDotNet.UdpPacket>())).Where(x => x.Udp is not null).ToList();
            int toVxlan = udp.Count(x => x.Ip.SourceAddress.ToString() == "198.18.0.1" && x.Udp.DestinationPort == 8472);
            int toUdp = udp.Count(x => x.Ip.SourceAddress.ToString() == "198.18.0.2" && x.Udp.DestinationPort == 8285 && x.Udp.SourcePort == 8285);
            TestContext.Out.WriteLine($"node 1 -> node 2 VXLAN: {toVxlan}; node 2 -> node 1 flannel-udp from 8285: {toUdp}; other: {udp.Count - toVxlan - toUdp}");
            Assert.That(toVxlan, Is.GreaterThanOrEqualTo(3), "the udp node sends VXLAN to the vxlan node");
            Assert.That(toUdp, Is.GreaterThanOrEqualTo(3), "the vxlan node sends flannel-udp from 8285 to the udp node");
            Assert.That(udp.Count - toVxlan - toUdp, Is.Zero, "nothing in the other direction's format");
        }
        foreach (bool reverse in new[] { false, true })
        {
            var tcp = LabTesting.Iperf(Pod(1), Pod(2), b, reverse: reverse);
            TestContext.Out.WriteLine($"TCP udp node {(reverse ? "<-" : "->")} vxlan node: {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
            Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));
        }
        Assert.That(UdpSockets(2), Does.Contain("198.18.0.2:8285").And.Contain("198.18.0.2:8472"));
        Assert.That(UdpSockets(1), Does.Contain("198.18.0.1:8472").And.Contain("198.18.0.1:8285"));
        Assert.That(Mtu(2, "flannel.1"), Is.EqualTo("1472"), "the vxlan node accepts udp-sized packets while a udp peer exists");

        // Path MTU: a 1472-byte DF packet from the udp node's pod does not fit VXLAN to node 2: fragmentation-needed, 1450.
        var big = LabTesting.InNs(Pod(1), "ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1444", b);
        TestContext.Out.WriteLine(big.StdOut + big.StdErr);
        Assert.That(big.StdOut + big.StdErr, Does.Match("mtu ?= ?1450"), "the pod learned the path MTU");
        Assert.That(LabTesting.Ping(Pod(1), b, size: 1422), Is.True, "1450 fits");
        // The vxlan node takes a 1472-byte packet into its TUN (a pod that kept udp's MTU; here the node itself) and
        // carries it to the udp node in flannel-udp, which fits. (The reply comes back in VXLAN, the vxlan node's format,
        // so it meets the 1450 limit on the way back: the path MTU is per direction.)
        using (var capture = Dataplane.Testing.PcapCapture.Start(Node(2), "eth0", "udp and src host 198.18.0.2 and dst port 8285 and greater 1500", count: 1, timeout: TimeSpan.FromSeconds(10)))
        {
            LabTesting.InNs(Node(2), "ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1444", a);
            var frames = capture.Finish();
            Assert.That(frames, Has.Count.EqualTo(1), "a 1472-byte inner packet left the vxlan node in flannel-udp");
            Assert.That(frames[0].Extract<PacketDotNet.UdpPacket>().PayloadData, Has.Length.EqualTo(1472));
        }

        // The stranger check is per port: node 3 (a vxlan lease) sending flannel-udp to node 2's 8285 is a stranger there.
        SendFlannelUdpFromNode3(b, 3);

        // A real flanneld udp node sends flannel-udp to every lease's PublicIP:8285. Once node 3's lease says udp, node 2's
        // 8285 socket accepts it, and what arrives there counts for node 3 in status, as any peer's traffic does.
        var node3Lease = LeasePath(Ipv4Prefix.Parse("10.244.250.0/24"));
        var vxlanLease = File.ReadAllText(node3Lease);
        File.WriteAllText(node3Lease, "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}");
        long fromNode3 = 0;
        Assert.That(LabTesting.Poll(() =>
        {
            SendFlannelUdpFromNode3(b, 1);
            Thread.Sleep(200);
            var status = DataplaneProcess.Run(["status", "--control-socket", Lab.Layout.ControlSocket(2), "--json"]);
            if (status.Exit != 0)
                return false;
            var row = System.Text.Json.JsonDocument.Parse(status.Out).RootElement.GetProperty("peers").EnumerateArray()
                .FirstOrDefault(p => p.GetProperty("address").GetString() == "198.18.0.3");
            fromNode3 = row.ValueKind == System.Text.Json.JsonValueKind.Object ? row.GetProperty("receivedPackets").GetInt64() : 0;
            return fromNode3 > 0;
        }, TimeSpan.FromSeconds(15)), Is.Not.Null, $"node 2 counted {fromNode3} datagrams from node 3 on its flannel-udp socket");
        File.WriteAllText(node3Lease, vxlanLease);

        // The udp peer goes: node 2 closes its 8285 socket and its TUN returns to 1450.
        Lab.StopDaemon(1);
        File.Delete(LeasePath(s1));
        File.Delete(LeasePath(s1) + ".meta");
        Assert.That(LabTesting.Poll(() => !UdpSockets(2).Contains(":8285", StringComparison.Ordinal), TimeSpan.FromSeconds(15)), Is.Not.Null, UdpSockets(2));
        Assert.That(Mtu(2, "flannel.1"), Is.EqualTo("1450"));
        Lab.StopDaemon(2);
        var counters = Lab.TailLog(2, 30).Split('\n').Last(l => l.Contains("Data path stopped", StringComparison.Ordinal));
        TestContext.Out.WriteLine(counters);
        Assert.That(counters, Does.Match(@"UnknownSource=([3-9]|\d\d)"), "node 3's flannel-udp datagrams dropped at the 8285 port");
        Assert.That(Lab.TailLog(2, 60), Does.Contain("Dropping datagrams from 198.18.0.3"));
    }

    // Flannel-udp datagrams from node 3 (no daemon there) to node 2's 8285, each one inner UDP header to pod `to`.
    private static void SendFlannelUdpFromNode3(string to, int count) => Dataplane.Tun.NetworkNamespace.Run(Node(3), () =>
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.18.0.3"), 0));
        var inner = new byte[28];
        Ipv4Header.Write(inner, new Ipv4HeaderFields(0, 28, 1, false, 64, IpProtocol.Udp, Ipv4Address.Parse("10.244.250.5"), Ipv4Address.Parse(to)));
        for (int k = 0; k < count; k++)
            socket.SendTo(inner, new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.18.0.2"), 8285));
    });
}

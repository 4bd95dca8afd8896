using Control.Lab;

namespace Control.Tests.Lab;

/// <summary>
/// The main job, end to end: nodes run <c>dataplane run</c> (udp backend, embedded lease store) in network namespaces,
/// pods are attached by the Debian CNI bridge plugin from each node's subnet.env, and pods reach each other through
/// the dataplane (issue 6).
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class LabEndToEndTests
{
    private Control.Lab.Lab _lab = null!;
    private string _state = null!;

    [SetUp]
    public void SetUp()
    {
        LabTesting.RequireLabTools();
        _lab = LabTesting.NewLab(out _state);
    }

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

    private static string Pod(int i) => LabLayout.PodNamespace(i);

    [Test]
    public void TwoNodes_PodToPod_IcmpTcpUdp_BothWays()
    {
        _lab.Up(LabTesting.Options());
        string a = _lab.PodAddress(1), b = _lab.PodAddress(2);
        Assert.That(LabTesting.Ping(Pod(1), b, count: 3), Is.True, "pod 1 -> pod 2 ping");
        Assert.That(LabTesting.Ping(Pod(2), a, count: 3), Is.True, "pod 2 -> pod 1 ping");

        foreach (bool reverse in new[] { false, true })
        {
            var tcp = LabTesting.Iperf(Pod(1), Pod(2), b, reverse: reverse);
            double bytes = tcp["sum_received"]!["bytes"]!.GetValue<double>();
            TestContext.Out.WriteLine($"TCP {(reverse ? "2->1" : "1->2")}: {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
            Assert.That(bytes, Is.GreaterThan(1_000_000), "TCP moved data");

            var udp = LabTesting.Iperf(Pod(1), Pod(2), b, udp: true, reverse: reverse);
            var sum = udp["sum"]!;
            long packets = sum["packets"]!.GetValue<long>();
            long lost = sum["lost_packets"]!.GetValue<long>();
            TestContext.Out.WriteLine($"UDP {(reverse ? "2->1" : "1->2")}: {packets} packets, {lost} lost");
            Assert.That(packets - lost, Is.GreaterThan(packets / 2), "most UDP datagrams delivered");
        }
        // Each node sent one bulk transfer: both did it on the batch path with their offloads.
        BatchPath.AssertRanWithOffloads(_lab, 1);
        BatchPath.AssertRanWithOffloads(_lab, 2);
    }

    [Test]
    public void ThreeNodes_EveryPodReachesEveryPod()
    {
        _lab.Up(LabTesting.Options(nodes: 3));
        for (int i = 1; i <= 3; i++)
            for (int j = 1; j <= 3; j++)
                if (i != j)
                    Assert.That(LabTesting.Ping(Pod(i), _lab.PodAddress(j), timeoutSeconds: 2), Is.True, $"pod {i} -> pod {j}");
    }

    [Test]
    public void NodeJoiningLater_IsReachableWithin2sOfItsLease()
    {
        var options = LabTesting.Options(nodes: 2);
        _lab.Up(options);
        _lab.AddNode(3);
        _lab.StartDaemon(3, options); // returns once node 3 has written subnet.env, i.e. holds its lease
        var leaseWritten = DateTime.UtcNow;
        string c = _lab.AttachPod(3);
        var elapsed = LabTesting.Poll(() => LabTesting.Ping(Pod(1), c, timeoutSeconds: 0.3), TimeSpan.FromSeconds(6));
        var sinceLease = DateTime.UtcNow - leaseWritten;
        TestContext.Out.WriteLine($"pod 3 reachable from pod 1 {sinceLease.TotalMilliseconds:0} ms after node 3's lease was written");
        Assert.That(elapsed, Is.Not.Null, "pod 1 never reached the late node's pod within 6 s (3x the 2 s target)");
    }

    [Test]
    public void LeaseRemoved_PeerUnreachableWithNetUnreachable_Within2s()
    {
        _lab.Up(LabTesting.Options());
        string b = _lab.PodAddress(2);
        Assert.That(LabTesting.Ping(Pod(1), b), Is.True);
        // Node 2 goes away for good: stop its daemon and delete its lease, as an operator or expiry would.
        _lab.StopDaemon(2);
        var subnet = File.ReadAllLines(_lab.Layout.SubnetFile(2)).Single(l => l.StartsWith("FLANNEL_SUBNET=", StringComparison.Ordinal))[15..];
        var key = Dataplane.Packets.Ipv4Prefix.Parse(subnet).ToString().Replace('/', '-');
        File.Delete(Path.Combine(_lab.Layout.LeaseDir, "subnets", key));
        var removed = DateTime.UtcNow;
        string? lastOutput = null;
        var elapsed = LabTesting.Poll(() =>
        {
            var r = LabTesting.InNs(Pod(1), "ping", "-c", "1", "-W", "0.5", b);
            lastOutput = r.StdOut;
            return r.StdOut.Contains("Destination Net Unreachable", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(6));
        TestContext.Out.WriteLine($"net unreachable {(DateTime.UtcNow - removed).TotalMilliseconds:0} ms after the lease was removed; ping said: {lastOutput}");
        Assert.That(elapsed, Is.Not.Null, $"no ICMP net-unreachable reached the pod within 6 s; ping said: {lastOutput}");
    }

    [Test]
    public void DaemonRestart_KeepsTheSubnet_AndFlowsRecover()
    {
        var options = LabTesting.Options();
        _lab.Up(options);
        string b = _lab.PodAddress(2);
        var before = File.ReadAllText(_lab.Layout.SubnetFile(2));
        Assert.That(LabTesting.Ping(Pod(1), b), Is.True);
        _lab.StopDaemon(2);
        File.Delete(_lab.Layout.SubnetFile(2)); // StartDaemon waits for it to be written again
        File.WriteAllText(_lab.Layout.SubnetFile(2), before); // ...but keep it, as a real restart does (flanneld reads it back)
        var restart = DateTime.UtcNow;
        _lab.StartDaemon(2, options);
        Assert.That(File.ReadAllText(_lab.Layout.SubnetFile(2)), Is.EqualTo(before), "same subnet after restart");
        var elapsed = LabTesting.Poll(() => LabTesting.Ping(Pod(1), b, timeoutSeconds: 0.3), TimeSpan.FromSeconds(10));
        TestContext.Out.WriteLine($"flow recovered {(DateTime.UtcNow - restart).TotalMilliseconds:0} ms after the restart began");
        Assert.That(elapsed, Is.Not.Null, "pod 1 -> pod 2 did not recover after the restart");
    }

    [Test]
    public void InnerPacketOf1472Bytes_Passes()
    {
        _lab.Up(LabTesting.Options());
        // 1444 bytes of ICMP data + 8 ICMP + 20 IP = 1472 = FLANNEL_MTU for a 1500-byte underlay; DF set (-M do).
        Assert.That(LabTesting.Ping(Pod(1), _lab.PodAddress(2), size: 1444), Is.True, "a full-MTU packet crosses");
        Assert.That(LabTesting.Ping(Pod(2), _lab.PodAddress(1), size: 1444), Is.True, "and back");
    }

    [Test]
    public void StrangerDatagrams_NeverReachAPod()
    {
        _lab.Up(LabTesting.Options());
        string b = _lab.PodAddress(2);
        // A stranger on the underlay (an address holding no lease) sends a well-formed flannel-udp datagram carrying an
        // ICMP echo request for pod 2.
        var ul = LabLayout.UnderlayNamespace;
        LabTesting.InNs(ul, "ip", "addr", "add", "198.18.0.99/24", "dev", "br0");
        using var capture = Dataplane.Testing.PcapCapture.Start(Pod(2), "eth0", "icmp[icmptype] == icmp-echo", timeout: TimeSpan.FromSeconds(20));
        var inner = BuildEcho(Dataplane.Packets.Ipv4Address.Parse("10.244.250.1"), Dataplane.Packets.Ipv4Address.Parse(b));
        Dataplane.Tun.NetworkNamespace.Run(ul, () =>
        {
            using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.18.0.99"), 8285));
            for (int i = 0; i < 5; i++)
                s.SendTo(inner, new System.Net.IPEndPoint(System.Net.IPAddress.Parse(LabLayout.UnderlayAddress(2)), 8285));
        });
        Thread.Sleep(500);
        Assert.That(capture.Stop(), Is.Empty, "no stranger packet reached pod 2");
        Assert.That(LabTesting.Poll(() => _lab.TailLog(2, 50).Contains("198.18.0.99", StringComparison.Ordinal), TimeSpan.FromSeconds(3)), Is.Not.Null,
            "the daemon logs the stranger");
        Assert.That(_lab.TailLog(2, 50), Does.Contain("--accept-unknown-peers"));
        Assert.That(LabTesting.Ping(Pod(1), b), Is.True, "leased peers still get through");
    }

    [Test]
    public void IpMasq_RulesPresent_ResyncedWhenFlushed_AndLeftInPlaceOnStop()
    {
        _lab.Up(LabTesting.Options(ipMasq: true));
        var node = LabLayout.NodeNamespace(1);
        var subnet = File.ReadAllLines(_lab.Layout.SubnetFile(1)).Single(l => l.StartsWith("FLANNEL_SUBNET=", StringComparison.Ordinal))[15..];
        var pod = Dataplane.Packets.Ipv4Prefix.Parse(subnet).ToString();
        var nat = LabTesting.InNs(node, "iptables", "-t", "nat", "-S").StdOut;
        TestContext.Out.WriteLine(nat);
        Assert.That(nat, Does.Contain("-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG"));
        Assert.That(nat, Does.Contain($"-A FLANNEL-POSTRTG -s {pod} -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN"));
        Assert.That(nat, Does.Contain("-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully"));
        var filter = LabTesting.InNs(node, "iptables", "-S").StdOut;
        Assert.That(filter, Does.Contain("-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT"));
        Assert.That(File.ReadAllText(_lab.Layout.SubnetFile(1)), Does.Contain("FLANNEL_IPMASQ=true"));
        Assert.That(LabTesting.Ping(Pod(1), _lab.PodAddress(2)), Is.True, "pod to pod is not masqueraded away");

        // Someone flushes our chain: the daemon's resync (flanneld's default 5 s) puts it back.
        LabTesting.InNs(node, "iptables", "-t", "nat", "-F", "FLANNEL-POSTRTG");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var back = LabTesting.Poll(() => LabTesting.InNs(node, "iptables", "-t", "nat", "-S").StdOut == nat, TimeSpan.FromSeconds(15));
        TestContext.Out.WriteLine($"FLANNEL-POSTRTG back after {sw.Elapsed.TotalSeconds:F1} s (resync 5 s)");
        Assert.That(back, Is.Not.Null, "not restored within 3 resync periods:\n" + LabTesting.InNs(node, "iptables", "-t", "nat", "-S").StdOut + "\n" + _lab.TailLog(1));

        // flanneld leaves its chains on exit (a crash-restart must not drop bridged pod traffic where FORWARD is DROP).
        _lab.StopDaemon(1);
        Assert.That(LabTesting.InNs(node, "iptables", "-t", "nat", "-S").StdOut, Is.EqualTo(nat));
        Assert.That(LabTesting.InNs(node, "iptables", "-S").StdOut, Is.EqualTo(filter));
    }

    private static byte[] BuildEcho(Dataplane.Packets.Ipv4Address src, Dataplane.Packets.Ipv4Address dst)
    {
        var bytes = new byte[28 + 16];
        Dataplane.Packets.Ipv4Header.Write(bytes, new Dataplane.Packets.Ipv4HeaderFields(0, (ushort)bytes.Length, 1, false, 64, Dataplane.Packets.IpProtocol.Icmp, src, dst));
        bytes[20] = 8;
        var csum = Dataplane.Packets.Checksum.Compute(bytes.AsSpan(20));
        bytes[22] = (byte)(csum >> 8);
        bytes[23] = (byte)csum;
        return bytes;
    }
}

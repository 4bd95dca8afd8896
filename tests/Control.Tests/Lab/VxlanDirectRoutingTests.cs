using System.Text.Json.Nodes;
using Control.Lab;
using Dataplane.Packets;

namespace Control.Tests.Lab;

/// <summary>
/// vxlan <c>"DirectRouting": true</c> as flanneld (pkg/backend/vxlan handleSubnetEvents, pkg/ip/iface.go DirectRouting):
/// node 1 is ours; node 2 is a kernel flannel.1 node on the same underlay subnet, programmed the way flanneld with
/// DirectRouting programs an on-link peer (a plain route via our PublicIP); node 3 is a kernel flannel.1 node whose
/// PublicIP is on another subnet (reached through a gateway), programmed as a VTEP peer. Captures show no VXLAN between
/// nodes 1 and 2 and VXLAN between nodes 1 and 3; node 3 then moves on-link and back.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class VxlanDirectRoutingTests : LabTestBase
{
    private const string Mac2 = "0a:bb:00:00:00:02";
    private const string Mac3 = "0a:bb:00:00:00:03";
    private static readonly Ipv4Prefix S2 = Ipv4Prefix.Parse("10.244.2.0/24");
    private static readonly Ipv4Prefix S3 = Ipv4Prefix.Parse("10.244.3.0/24");
    protected override IEnumerable<string> ExtraTools => ["bridge"];

    private void WriteKernelLease(Ipv4Prefix subnet, string publicIp, string mac) =>
        File.WriteAllText(LeasePath(subnet),
            $"{{\"PublicIP\":\"{publicIp}\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{{\"VNI\":1,\"VtepMAC\":\"{mac}\"}}}}");

    /// <summary>A kernel flannel.1 on node <paramref name="i"/> as flanneld creates it, with its subnet.env.</summary>
    private void KernelNode(int i, string local, string mac, Ipv4Prefix subnet)
    {
        Sh(Node(i), $"ip link add flannel.1 type vxlan id 1 local {local} dev eth0 dstport 8472 nolearning");
        Sh(Node(i), $"ip link set flannel.1 address {mac} mtu 1450 up");
        Sh(Node(i), $"ip addr add {subnet.Address}/32 dev flannel.1");
        File.WriteAllText(Lab.Layout.SubnetFile(i),
            $"FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET={new Ipv4Address(subnet.Address.Value + 1)}/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
    }

    /// <summary>What flanneld programs on a kernel node for our lease: a direct route, or the VTEP triple.</summary>
    private static void ProgramPeerOnKernelNode(int i, Ipv4Prefix ours, string ourMac, bool direct)
    {
        if (direct)
        {
            Sh(Node(i), $"ip route replace {ours} via 198.18.0.1");
            return;
        }
        Sh(Node(i), $"ip neigh replace {ours.Address} lladdr {ourMac} dev flannel.1 nud permanent");
        Sh(Node(i), $"bridge fdb replace {ourMac} dev flannel.1 dst 198.18.0.1 self permanent");
        Sh(Node(i), $"ip route replace {ours} via {ours.Address} dev flannel.1 onlink");
    }

    /// <summary>Frames captured on node <paramref name="i"/>'s eth0 while <paramref name="traffic"/> runs: (VXLAN, ICMP).</summary>
    private static (int Vxlan, int Icmp) Capture(int i, Action traffic)
    {
        using var capture = Dataplane.Testing.PcapCapture.Start(Node(i), "eth0", "udp port 8472 or icmp", timeout: TimeSpan.FromSeconds(60));
        traffic();
        var frames = capture.Stop();
        int vxlan = frames.Count(f => f.Extract<PacketDotNet.UdpPacket>() is { DestinationPort: 8472 } or { SourcePort: 8472 });
        int icmp = frames.Count(f => f.Extract<PacketDotNet.UdpPacket>() is null && f.Extract<PacketDotNet.IcmpV4Packet>() is not null);
        return (vxlan, icmp);
    }

    private void PingBothWays(int a, int b)
    {
        Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(a), Lab.PodAddress(b), timeoutSeconds: 0.5), TimeSpan.FromSeconds(15)), Is.Not.Null, $"pod {a} -> pod {b}");
        Assert.That(LabTesting.Ping(Pod(b), Lab.PodAddress(a), count: 2), Is.True, $"pod {b} -> pod {a}");
    }

    [Test]
    public void OnLinkKernelPeer_RoutedPlain_OffLinkPeer_Encapsulated_AndAPeerMovingBetweenTheTwo()
    {
        var options = LabTesting.Options(nodes: 3) with { Backend = "vxlan", StartDaemons = false };
        Lab.Up(options);
        File.WriteAllText(Path.Combine(Lab.Layout.LeaseDir, "config"),
            "{\"Network\":\"10.244.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"DirectRouting\":true}}\n");
        // Node 3's PublicIP is on another subnet, reached from node 1 through a gateway (node 3's first address).
        Sh(Node(3), "ip addr add 198.19.3.3/24 dev eth0");
        Sh(Node(1), "ip route add 198.19.3.0/24 via 198.18.0.3");
        WriteKernelLease(S2, "198.18.0.2", Mac2);
        WriteKernelLease(S3, "198.19.3.3", Mac3);
        Lab.StartDaemon(1, options with { StartDaemons = true });

        var ours = SubnetOf(1);
        var lease = JsonNode.Parse(File.ReadAllText(LeasePath(ours)))!;
        string ourMac = lease["BackendData"]!["VtepMAC"]!.GetValue<string>();
        KernelNode(2, "198.18.0.2", Mac2, S2);
        ProgramPeerOnKernelNode(2, ours, ourMac, direct: true);
        KernelNode(3, "198.19.3.3", Mac3, S3);
        ProgramPeerOnKernelNode(3, ours, ourMac, direct: false);
        for (int i = 1; i <= 3; i++)
            Lab.AttachPod(i);

        Assert.That(LabTesting.Poll(() => Routes(1).Contains($"{S2} via 198.18.0.2 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null,
            "on-link peer: direct route");
        Assert.That(Routes(1), Does.Not.Contain($"{S3} via"), "off-link peer: through our VTEP (the Network route)");

        // Same subnet: pods talk both ways, plain IP on the wire, nothing on 8472.
        var (vxlan12, icmp12) = Capture(2, () =>
        {
            PingBothWays(1, 2);
            foreach (bool reverse in new[] { false, true })
            {
                var tcp = LabTesting.Iperf(Pod(1), Pod(2), Lab.PodAddress(2), reverse: reverse);
                Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));
            }
        });
        TestContext.Out.WriteLine($"node 2 eth0: {vxlan12} VXLAN frames, {icmp12} plain ICMP frames");
        Assert.That(vxlan12, Is.Zero, "no VXLAN between same-subnet nodes");
        Assert.That(icmp12, Is.GreaterThan(0), "the pings crossed node 2's eth0 as plain IP");

        // Another subnet: encapsulated both ways.
        var (vxlan13, _) = Capture(3, () => PingBothWays(1, 3));
        TestContext.Out.WriteLine($"node 3 eth0: {vxlan13} VXLAN frames");
        Assert.That(vxlan13, Is.GreaterThanOrEqualTo(4), "VXLAN towards and from the peer on another subnet");

        // Node 3 moves on-link (its lease now carries its first address): node 1 switches it to a direct route.
        WriteKernelLease(S3, "198.18.0.3", Mac3);
        Assert.That(LabTesting.Poll(() => Routes(1).Contains($"{S3} via 198.18.0.3 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null,
            "moved on-link: direct route");
        ProgramPeerOnKernelNode(3, ours, ourMac, direct: true);
        var (vxlanMoved, icmpMoved) = Capture(3, () => PingBothWays(1, 3));
        Assert.That((vxlanMoved, icmpMoved > 0), Is.EqualTo((0, true)), "after the move: plain IP, no VXLAN");

        // And back off-link: the direct route goes, the VTEP carries it again.
        WriteKernelLease(S3, "198.19.3.3", Mac3);
        Assert.That(LabTesting.Poll(() => !Routes(1).Contains($"{S3} via", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null,
            "moved off-link: direct route removed");
        ProgramPeerOnKernelNode(3, ours, ourMac, direct: false);
        var (vxlanBack, _) = Capture(3, () => PingBothWays(1, 3));
        Assert.That(vxlanBack, Is.GreaterThanOrEqualTo(4), "encapsulated again");
    }
}

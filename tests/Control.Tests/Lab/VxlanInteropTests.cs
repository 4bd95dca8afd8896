using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Control.Lab;
using Dataplane.Packets;

namespace Control.Tests.Lab;

/// <summary>
/// Our VXLAN backend against the Linux kernel's VXLAN device programmed exactly as flanneld programs flannel.1
/// (reference/flannel.md §2.2, §2.4): node 1 runs <c>dataplane run</c> with Backend vxlan; node 2 is a "real flannel
/// vxlan node": a kernel flannel.1 with a permanent neighbour and FDB entry and an onlink route for our subnet, and a
/// static lease in the store publishing its VtepMAC, as flanneld would. Plus ours↔ours.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class VxlanInteropTests : LabTestBase
{
    private const string KernelMac = "0a:bb:00:00:00:02";
    private const string KernelSubnet = "10.244.2.0/24";

    protected override IEnumerable<string> ExtraTools => ["bridge"];

    /// <summary>Builds node 1 (ours) and node 2 (kernel flannel.1); returns our subnet and VTEP MAC.</summary>
    private (Ipv4Prefix OurSubnet, string OurMac) BuildMixed(bool kernelUdpChecksum = true, bool permanentNeighbour = true)
    {
        var options = LabTesting.Options(nodes: 2) with { Backend = "vxlan", StartDaemons = false };
        Lab.Up(options);
        // The kernel node's lease, as flanneld writes it (static: no .meta companion).
        File.WriteAllText(Path.Combine(Lab.Layout.LeaseDir, "subnets", "10.244.2.0-24"),
            $"{{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{{\"VNI\":1,\"VtepMAC\":\"{KernelMac}\"}}}}");
        Lab.StartDaemon(1, options with { StartDaemons = true });

        var ourSubnet = Ipv4Prefix.Parse(File.ReadAllLines(Lab.Layout.SubnetFile(1)).Single(l => l.StartsWith("FLANNEL_SUBNET=", StringComparison.Ordinal))[15..]);
        var ourLease = JsonNode.Parse(File.ReadAllText(Path.Combine(Lab.Layout.LeaseDir, "subnets", ourSubnet.ToString().Replace('/', '-'))))!;
        Assert.That(ourLease["BackendType"]!.GetValue<string>(), Is.EqualTo("vxlan"));
        string ourMac = ourLease["BackendData"]!["VtepMAC"]!.GetValue<string>();
        Assert.That(ourLease["BackendData"]!["VNI"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(MacAddress.Parse(ourMac).IsLocallyAdministered && !MacAddress.Parse(ourMac).IsMulticast, Is.True, "locally administered unicast");

        // Node 2: what flanneld's vxlan backend programs for our lease.
        var n2 = Node(2);
        // Default offloads, as users run on veth, kind and VMs: the kernel VXLAN device hands its datagrams across the
        // veth with CHECKSUM_PARTIAL inner checksums (never completed: the receiving kernel trusts the skb) and bulk TCP
        // as tunnel-GSO super-datagrams carrying 5-MSS inner segments. Our receive path must take both (issue 12 §3).
        Sh(n2, $"ip link add flannel.1 type vxlan id 1 local 198.18.0.2 dev eth0 dstport 8472 nolearning{(kernelUdpChecksum ? "" : " noudpcsum")}");
        Sh(n2, $"ip link set flannel.1 address {KernelMac} mtu 1450 up");
        Sh(n2, "ip addr add 10.244.2.0/32 dev flannel.1");
        Sh(n2, $"ip neigh replace {ourSubnet.Address} lladdr {ourMac} dev flannel.1 nud {(permanentNeighbour ? "permanent" : "stale")}");
        Sh(n2, $"bridge fdb replace {ourMac} dev flannel.1 dst 198.18.0.1 self permanent");
        Sh(n2, $"ip route replace {ourSubnet} via {ourSubnet.Address} dev flannel.1 onlink");
        File.WriteAllText(Lab.Layout.SubnetFile(2), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
        Lab.AttachPod(1);
        Lab.AttachPod(2);
        return (ourSubnet, ourMac);
    }

    [TestCase(true)]
    [TestCase(false)]
    public void OursAndKernel_IcmpTcpUdp_BothWays(bool kernelUdpChecksum)
    {
        BuildMixed(kernelUdpChecksum);
        string a = Lab.PodAddress(1), b = Lab.PodAddress(2);
        Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(1), b, timeoutSeconds: 0.5), TimeSpan.FromSeconds(10)), Is.Not.Null, "our pod -> kernel pod");
        Assert.That(LabTesting.Ping(Pod(2), a, count: 3), Is.True, "kernel pod -> our pod");
        Assert.That(LabTesting.Ping(Pod(1), b, size: 1422), Is.True, "full 1450-byte inner packet, DF set");
        foreach (bool reverse in new[] { false, true })
        {
            var tcp = LabTesting.Iperf(Pod(1), Pod(2), b, reverse: reverse);
            TestContext.Out.WriteLine($"TCP ours{(reverse ? "<-" : "->")}kernel (kernel udpcsum {kernelUdpChecksum}): {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
            Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));
            var udp = LabTesting.Iperf(Pod(1), Pod(2), b, udp: true, reverse: reverse)["sum"]!;
            Assert.That(udp["packets"]!.GetValue<long>() - udp["lost_packets"]!.GetValue<long>(), Is.GreaterThan(udp["packets"]!.GetValue<long>() / 2));
        }
        BatchPath.AssertRanWithOffloads(Lab, 1);
    }

    [Test]
    public void OurDatagrams_HaveTheKernelsOuterHeader()
    {
        BuildMixed();
        string b = Lab.PodAddress(2);
        LabTesting.Poll(() => LabTesting.Ping(Pod(1), b, timeoutSeconds: 0.5), TimeSpan.FromSeconds(10));
        using var capture = Dataplane.Testing.PcapCapture.Start(Node(2), "eth0", "udp and src host 198.18.0.1", count: 1, timeout: TimeSpan.FromSeconds(8));
        LabTesting.InNs(Pod(1), "ping", "-c", "1", "-W", "1", "-Q", "3", b);
        var frames = capture.Finish();
        Assert.That(frames, Has.Count.EqualTo(1), "captured our datagram");
        var ip = frames[0].Extract<PacketDotNet.IPv4Packet>();
        var udp = frames[0].Extract<PacketDotNet.UdpPacket>();
        Assert.Multiple(() =>
        {
            Assert.That(udp.DestinationPort, Is.EqualTo(8472));
            Assert.That(ip.FragmentFlags & 0x2, Is.Zero, "DF clear, as the kernel's VXLAN device");
            Assert.That(ip.TimeToLive, Is.EqualTo(64));
            Assert.That(ip.TypeOfService, Is.EqualTo(0x02), "inner CE -> outer ECT(0)");
            Assert.That(udp.Checksum, Is.Not.Zero, "UDP checksum computed");
            Assert.That(Convert.ToHexString(udp.PayloadData[..8]), Is.EqualTo("0800000000000100"));
            Assert.That(MacAddress.Read(udp.PayloadData.AsSpan(8)).ToString(), Is.EqualTo(KernelMac), "inner dst = the peer's VtepMAC");
        });
    }

    [Test]
    public void StaleKernelNeighbour_ProbesUs_AndWeAnswer()
    {
        var (ourSubnet, ourMac) = BuildMixed(permanentNeighbour: false);
        // Shorten the DELAY state so the kernel probes after 1 s instead of 5 s.
        LabTesting.InNs(Node(2), "sysctl", "-qw", "net.ipv4.neigh.flannel/1.delay_first_probe_time=1");
        Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(2), Lab.PodAddress(1), timeoutSeconds: 0.5), TimeSpan.FromSeconds(10)), Is.Not.Null);
        string state = "";
        var reachable = LabTesting.Poll(() =>
        {
            LabTesting.InNs(Pod(2), "ping", "-c", "1", "-W", "0.3", Lab.PodAddress(1));
            state = LabTesting.InNs(Node(2), "ip", "neigh", "show", ourSubnet.Address.ToString(), "dev", "flannel.1").StdOut.Trim();
            return state.Contains("REACHABLE", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(15));
        TestContext.Out.WriteLine($"kernel neighbour entry: {state}");
        Assert.That(reachable, Is.Not.Null, $"the kernel's entry for our VTEP never became REACHABLE (last: {state})");
        Assert.That(state, Does.Contain(ourMac));
        Lab.StopDaemon(1);
        var counters = Lab.TailLog(1, 20).Split('\n').Last(l => l.Contains("Data path stopped", StringComparison.Ordinal));
        Assert.That(counters, Does.Match(@"ARP replies [1-9]"), "the kernel's probe was answered by us: " + counters);
    }

    [Test]
    public void BadFrames_AreDroppedAndCounted_WhileGoodTrafficFlows()
    {
        var (ourSubnet, ourMac) = BuildMixed();
        string a = Lab.PodAddress(1);
        Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(2), a, timeoutSeconds: 0.5), TimeSpan.FromSeconds(10)), Is.Not.Null);
        // From the kernel node's underlay address (it holds a lease, so the frames pass the stranger check and reach
        // the VXLAN checks), one frame per kind of damage, each carrying an echo request for our pod.
        var good = Frame(ourMac, KernelMac, a);
        var frames = new Dictionary<string, byte[]>
        {
            ["VniMismatch"] = Mutate(good, f => f[6] = 2),
            ["VxlanInvalidHeader"] = Mutate(good, f => f[0] = 0x0C),
            ["InnerDestinationNotOurs"] = Mutate(good, f => f[13] ^= 0x01),
            ["InnerSourceIsOurs"] = Mutate(good, f => MacAddress.Parse(ourMac).Write(f.AsSpan(14))),
            ["UnsupportedEtherType"] = Mutate(good, f => { f[20] = 0x88; f[21] = 0xCC; }),
        };
        Dataplane.Tun.NetworkNamespace.Run(Node(2), () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse("198.18.0.2"), 0));
            foreach (var f in frames.Values)
                s.SendTo(f, new IPEndPoint(IPAddress.Parse("198.18.0.1"), 8472));
        });
        Assert.That(LabTesting.Ping(Pod(2), a, count: 3), Is.True, "good traffic still flows");
        Lab.StopDaemon(1);
        var counters = Lab.TailLog(1, 20).Split('\n').Last(l => l.Contains("Data path stopped", StringComparison.Ordinal));
        TestContext.Out.WriteLine(counters);
        foreach (var reason in frames.Keys)
            Assert.That(counters, Does.Match($@"{reason}=\d"), $"{reason} counted");
    }

    [Test]
    public void OursToOurs_Vxlan()
    {
        Lab.Up(LabTesting.Options(nodes: 2) with { Backend = "vxlan" });
        Assert.That(LabTesting.Ping(Pod(1), Lab.PodAddress(2), count: 3), Is.True);
        Assert.That(LabTesting.Ping(Pod(2), Lab.PodAddress(1), size: 1422), Is.True, "1450-byte inner packet");
        Assert.That(File.ReadAllText(Lab.Layout.SubnetFile(1)), Does.Contain("FLANNEL_MTU=1450"));
        var mtu = LabTesting.InNs(Node(1), "cat", "/sys/class/net/flannel.1/mtu").StdOut.Trim();
        Assert.That(mtu, Is.EqualTo("1450"));
        var tcp = LabTesting.Iperf(Pod(1), Pod(2), Lab.PodAddress(2));
        TestContext.Out.WriteLine($"TCP ours->ours vxlan: {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
        BatchPath.AssertRanWithOffloads(Lab, 1);
    }

    /// <summary>A VXLAN payload as the kernel node would send it: echo request from its pod subnet to our pod.</summary>
    private static byte[] Frame(string dstMac, string srcMac, string podAddress)
    {
        var frame = new byte[8 + 14 + 28 + 8];
        VxlanHeader.Write(frame, 1);
        EthernetHeader.Write(frame.AsSpan(8), MacAddress.Parse(dstMac), MacAddress.Parse(srcMac), EtherType.Ipv4);
        var inner = frame.AsSpan(22);
        Ipv4Header.Write(inner, new Ipv4HeaderFields(0, (ushort)inner.Length, 9, false, 64, IpProtocol.Icmp, Ipv4Address.Parse("10.244.2.9"), Ipv4Address.Parse(podAddress)));
        inner[20] = 8;
        var c = Checksum.Compute(inner[20..]);
        inner[22] = (byte)(c >> 8);
        inner[23] = (byte)c;
        return frame;
    }

    private static byte[] Mutate(byte[] frame, Action<byte[]> change)
    {
        var copy = (byte[])frame.Clone();
        change(copy);
        return copy;
    }
}

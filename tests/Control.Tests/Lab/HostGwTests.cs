using System.Text.Json.Nodes;
using Control.Lab;
using Dataplane.Packets;

namespace Control.Tests.Lab;

/// <summary>
/// The host-gw backend in the namespace lab: two of our nodes; ours against a node programmed by hand the way
/// flanneld's host-gw programs one (pkg/backend/route_network.go: <c>ip route add &lt;subnet&gt; via &lt;PublicIP&gt;
/// dev &lt;ext&gt;</c>, lease <c>"BackendType":"host-gw"</c>); leases of other types ignored, an off-link PublicIP
/// logged and retried, the watchdog restoring a deleted route, and the refusal to start behind NAT.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class HostGwTests : LabTestBase
{
    private bool LogHas(int i, string text) => Lab.TailLog(i, 400).Contains(text, StringComparison.Ordinal);

    [Test]
    public void OursToOurs_RoutesOnly_TcpWorks_RouteGoesWithTheLease()
    {
        Lab.Up(LabTesting.Options(nodes: 2, ipMasq: true) with { Backend = "host-gw" });
        var s1 = SubnetOf(1);
        var s2 = SubnetOf(2);
        var nat = LabTesting.InNs(Node(1), "iptables", "-t", "nat", "-S").StdOut;
        Assert.That(nat, Does.Contain("-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG"), "--ip-masq as for the other backends");
        Assert.That(File.ReadAllText(Lab.Layout.SubnetFile(1)), Does.Contain("FLANNEL_IPMASQ=true"));
        var lease = JsonNode.Parse(File.ReadAllText(LeasePath(s1)))!;
        Assert.That(lease.ToJsonString(), Is.EqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}"), "flanneld's host-gw lease");
        var env = File.ReadAllText(Lab.Layout.SubnetFile(1));
        Assert.That(env, Does.Contain("FLANNEL_MTU=1500"), "MTU = the external interface's");
        Assert.That(Routes(1), Does.Contain($"{s2} via 198.18.0.2 dev eth0"));
        Assert.That(Routes(2), Does.Contain($"{s1} via 198.18.0.1 dev eth0"));
        Assert.That(LabTesting.InNs(Node(1), "ip", "-o", "link", "show").StdOut, Does.Not.Contain("flannel"), "no TUN");

        Assert.That(LabTesting.Ping(Pod(1), Lab.PodAddress(2), count: 3), Is.True);
        Assert.That(LabTesting.Ping(Pod(2), Lab.PodAddress(1), size: 1472), Is.True, "a full 1500-byte packet, DF set");
        foreach (bool reverse in new[] { false, true })
        {
            var tcp = LabTesting.Iperf(Pod(1), Pod(2), Lab.PodAddress(2), reverse: reverse);
            TestContext.Out.WriteLine($"TCP ours{(reverse ? "<-" : "->")}ours host-gw: {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
            Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));
        }

        // Node 2 goes away and its lease with it: node 1 deletes the route.
        Lab.StopDaemon(2);
        File.Delete(LeasePath(s2));
        File.Delete(LeasePath(s2) + ".meta");
        var gone = LabTesting.Poll(() => !Routes(1).Contains(s2.ToString(), StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        Assert.That(gone, Is.Not.Null, $"route to {s2} still in node 1 after its lease went:\n{Routes(1)}");
        TestContext.Out.WriteLine($"route removed {gone!.Value.TotalMilliseconds:0} ms after the lease");
        Assert.That(LogHas(1, $"Subnet removed: {s2}"), Is.True);
    }

    [Test]
    public void OursAndAHandProgrammedFlanneldHostGwNode_BothWays()
    {
        var options = LabTesting.Options(nodes: 2) with { Backend = "host-gw", StartDaemons = false };
        Lab.Up(options);
        // Node 2 is "a real flanneld host-gw node": its lease as flanneld stores it (static: no .meta), and the route
        // flanneld's routeAdd installs for our lease.
        var s2 = Ipv4Prefix.Parse("10.244.2.0/24");
        File.WriteAllText(LeasePath(s2), "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}");
        Lab.StartDaemon(1, options with { StartDaemons = true });
        var s1 = SubnetOf(1);
        Sh(Node(2), $"ip route add {s1} via 198.18.0.1 dev eth0");
        File.WriteAllText(Lab.Layout.SubnetFile(2), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n");
        Lab.AttachPod(1);
        Lab.AttachPod(2);

        Assert.That(LabTesting.Poll(() => LabTesting.Ping(Pod(1), Lab.PodAddress(2), timeoutSeconds: 0.5), TimeSpan.FromSeconds(10)), Is.Not.Null, "our pod -> flanneld pod");
        Assert.That(LabTesting.Ping(Pod(2), Lab.PodAddress(1), count: 3), Is.True, "flanneld pod -> our pod");
        Assert.That(Routes(1), Does.Contain($"{s2} via 198.18.0.2 dev eth0"));
        var tcp = LabTesting.Iperf(Pod(2), Pod(1), Lab.PodAddress(1));
        Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000));
    }

    [Test]
    public void OtherTypesIgnored_OffLinkPeerLoggedAndRetried_DeletedRouteRestored()
    {
        var options = LabTesting.Options(nodes: 1) with { Backend = "host-gw", StartDaemons = false };
        Lab.Up(options);
        var vxlan = Ipv4Prefix.Parse("10.244.251.0/24");
        var offLink = Ipv4Prefix.Parse("10.244.252.0/24");
        var onLink = Ipv4Prefix.Parse("10.244.253.0/24");
        // Written before the daemon starts, so its own lease is allocated elsewhere.
        File.WriteAllText(LeasePath(vxlan), "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"0a:bb:00:00:00:03\"}}");
        File.WriteAllText(LeasePath(offLink), "{\"PublicIP\":\"198.19.5.5\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}");
        File.WriteAllText(LeasePath(onLink), "{\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":null,\"BackendType\":\"host-gw\"}");
        Lab.StartDaemon(1, options with { StartDaemons = true });

        Assert.That(LabTesting.Poll(() => Routes(1).Contains($"{onLink} via 198.18.0.5 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null);
        Assert.That(LabTesting.Poll(() => LogHas(1, "Ignoring non-host-gw subnet: type=vxlan"), TimeSpan.FromSeconds(5)), Is.Not.Null, "flanneld's line for another type");
        Assert.That(LabTesting.Poll(() => LogHas(1, $"Error adding route to {offLink} via 198.19.5.5 dev eth0"), TimeSpan.FromSeconds(5)), Is.Not.Null, "flanneld's line for an off-link peer");
        Assert.That(Routes(1), Does.Not.Contain(vxlan.ToString()).And.Not.Contain(offLink.ToString()));
        Assert.That(Lab.DaemonPids(1), Is.Not.Empty, "the daemon goes on");

        // The peer becomes on-link (an address on its network appears on eth0): the remembered route goes in at once.
        Sh(Node(1), "ip addr add 198.19.5.1/24 dev eth0");
        var recovered = LabTesting.Poll(() => Routes(1).Contains($"{offLink} via 198.19.5.5 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.That(recovered, Is.Not.Null, "the refused route is retried");
        TestContext.Out.WriteLine($"off-link route in place {recovered!.Value.TotalMilliseconds:0} ms after the address");

        // Someone deletes a route: the watchdog puts it back (event-driven, well before flanneld's 10 s check).
        Sh(Node(1), $"ip route del {onLink}");
        var restored = LabTesting.Poll(() => Routes(1).Contains($"{onLink} via 198.18.0.5 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.That(restored, Is.Not.Null, "deleted route restored");
        TestContext.Out.WriteLine($"deleted route restored in {restored!.Value.TotalMilliseconds:0} ms");
        Assert.That(LogHas(1, $"Route recovered {onLink} : 198.18.0.5"), Is.True);

        // Link down flushes routes through eth0 without an RTM_DELROUTE; they come back with the link.
        Sh(Node(1), "ip link set eth0 down");
        Sh(Node(1), "ip link set eth0 up");
        Assert.That(LabTesting.Poll(() => Routes(1).Contains($"{onLink} via 198.18.0.5 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(30)), Is.Not.Null,
            "routes back after a link flap");

        // A lease that changes to another type loses its route.
        File.WriteAllText(LeasePath(onLink), "{\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":null}");
        Assert.That(LabTesting.Poll(() => !Routes(1).Contains(onLink.ToString(), StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null);
    }

    [Test]
    public void AVxlanNodeOfOurs_RoutesToAnOnLinkHostGwPeer_AndTheHostGwNodeIgnoresIt()
    {
        var options = LabTesting.Options(nodes: 2) with { StartDaemons = false };
        Lab.Up(options);
        File.Delete(Path.Combine(Lab.Layout.LeaseDir, "config"));
        string Config(string backend)
        {
            var path = Path.Combine(Lab.Layout.Root, $"net-conf-{backend}.json");
            File.WriteAllText(path, $"{{\"Network\":\"10.244.0.0/16\",\"Backend\":{{\"Type\":\"{backend}\"}}}}\n");
            return path;
        }
        Lab.StartDaemon(1, options with { DaemonArgs = ["--net-config-path", Config("vxlan")] });
        Lab.StartDaemon(2, options with { DaemonArgs = ["--net-config-path", Config("host-gw")] });
        var s1 = SubnetOf(1);
        var s2 = SubnetOf(2);
        Assert.That(LabTesting.Poll(() => Routes(1).Contains($"{s2} via 198.18.0.2 dev eth0", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.Not.Null,
            "per-peer: the vxlan node serves the host-gw peer with its route");
        Assert.That(LabTesting.Poll(() => LogHas(2, "Ignoring non-host-gw subnet: type=vxlan"), TimeSpan.FromSeconds(10)), Is.Not.Null);
        Assert.That(Routes(2), Does.Not.Contain(s1.ToString()), "the host-gw node ignores the vxlan lease, as flanneld's");
    }

    [Test]
    public void PublicIpOtherThanTheInterfaceAddress_RefusesToStart()
    {
        var options = LabTesting.Options(nodes: 1) with { Backend = "host-gw", StartDaemons = false };
        Lab.Up(options);
        var r = LabTesting.InNs(Node(1), [.. options.DataplaneCommand!, "run", "--lease-dir", Lab.Layout.LeaseDir, "--iface", "eth0",
            "--public-ip", "198.18.7.7", "--subnet-file", Lab.Layout.SubnetFile(1)]);
        TestContext.Out.WriteLine(r.StdErr);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.StdErr + r.StdOut, Does.Contain("not supported by host-gw backend"));
        Assert.That(Directory.GetFiles(Path.Combine(Lab.Layout.LeaseDir, "subnets")).Where(f => !f.EndsWith("/.lock", StringComparison.Ordinal)), Is.Empty, "no lease taken");
    }
}

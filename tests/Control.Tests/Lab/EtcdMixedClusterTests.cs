using System.Text.Json.Nodes;
using Control.Lab;

namespace Control.Tests.Lab;

/// <summary>
/// Issue 14's cluster: one etcd (in the lab's underlay namespace, reached over the nodes' eth0 as a cluster etcd is),
/// two of our vxlan nodes started with flanneld's etcd flags, and a third node that is what a real flanneld vxlan node
/// looks like from the outside: its lease written into etcd the way flanneld writes it (flanneld's JSON value, bound to
/// a granted 24 h etcd lease) and its data path the kernel's flannel.1, programmed for our two nodes as flanneld
/// programs it. Every pod reaches every other pod, both ways, with default offloads.
/// </summary>
[TestFixture, Category("Privileged"), NonParallelizable]
public class EtcdMixedClusterTests
{
    private const string KernelMac = "0a:bb:00:00:00:03";
    private const string KernelSubnet = "10.244.3.0/24";
    private Control.Lab.Lab _lab = null!;

    [SetUp]
    public void SetUp()
    {
        LabTesting.RequireLabTools();
        Dataplane.Testing.Prerequisites.RequireTool("bridge");
        Dataplane.Testing.Prerequisites.RequireTool("etcd");
        Dataplane.Testing.Prerequisites.RequireTool("etcdctl");
        _lab = LabTesting.NewLab(out _);
    }

    [TearDown]
    public void TearDown()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed && _lab is not null)
        {
            TestContext.Out.WriteLine($"-- node 1 log:\n{_lab.TailLog(1, 40)}");
            TestContext.Out.WriteLine($"-- node 2 log:\n{_lab.TailLog(2, 40)}");
        }
        _lab?.Down();
    }

    private static string Etcdctl(params string[] args)
    {
        var r = LabTesting.InNs(LabLayout.UnderlayNamespace, ["etcdctl", "--endpoints", LabLayout.EtcdEndpoint, .. args]);
        Assert.That(r.ExitCode, Is.Zero, $"etcdctl {string.Join(' ', args)}: {r.StdErr}");
        return r.StdOut;
    }

    private static void Sh(string ns, string command)
    {
        var r = LabTesting.InNs(ns, command.Split(' '));
        Assert.That(r.ExitCode, Is.Zero, $"{command}: {r.StdErr}");
    }

    [Test]
    public void Two_of_our_nodes_and_a_kernel_flannel_node_with_a_flanneld_lease_in_etcd_all_reach_each_other()
    {
        var options = LabTesting.Options(nodes: 3) with { Backend = "vxlan", Store = "etcd", StartDaemons = false };
        _lab.Up(options);

        // Node 3's lease exactly as flanneld (≥ 0.18, etcd v3) writes it: a Grant(86400) and a put bound to it.
        var grant = Etcdctl("lease", "grant", "86400"); // "lease 694d77aa9e5c6a0b granted with TTL(86400s)"
        var leaseId = grant.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        Etcdctl("put", $"--lease={leaseId}", $"{LabLayout.EtcdPrefix}/subnets/10.244.3.0-24",
            $"{{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{{\"VNI\":1,\"VtepMAC\":\"{KernelMac}\"}}}}");

        // Our two nodes, started with flanneld's etcd flags by the lab.
        _lab.StartDaemon(1, options with { StartDaemons = true });
        _lab.StartDaemon(2, options with { StartDaemons = true });

        // Read our leases back from etcd, as flanneld on node 3 would, and program its flannel.1 for them.
        var lines = Etcdctl("get", "--prefix", $"{LabLayout.EtcdPrefix}/subnets/").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ours = new List<(string Subnet, string PublicIp, string Mac)>();
        for (int i = 0; i + 1 < lines.Length; i += 2)
        {
            var subnet = lines[i][(lines[i].LastIndexOf('/') + 1)..].Replace('-', '/');
            if (subnet == KernelSubnet)
                continue;
            var value = JsonNode.Parse(lines[i + 1])!;
            Assert.That(value["BackendType"]!.GetValue<string>(), Is.EqualTo("vxlan"), lines[i + 1]);
            Assert.That(value.ToJsonString(), Does.StartWith("{\"PublicIP\":"), "flanneld's field order");
            ours.Add((subnet, value["PublicIP"]!.GetValue<string>(), value["BackendData"]!["VtepMAC"]!.GetValue<string>()));
        }
        Assert.That(ours.Select(o => o.PublicIp).OrderBy(x => x, StringComparer.Ordinal), Is.EqualTo(new[] { "198.18.0.1", "198.18.0.2" }), string.Join('\n', lines));

        var n3 = LabLayout.NodeNamespace(3);
        Sh(n3, "ip link add flannel.1 type vxlan id 1 local 198.18.0.3 dev eth0 dstport 8472 nolearning");
        Sh(n3, $"ip link set flannel.1 address {KernelMac} mtu 1450 up");
        Sh(n3, "ip addr add 10.244.3.0/32 dev flannel.1");
        foreach (var (subnet, publicIp, mac) in ours)
        {
            var gateway = subnet[..subnet.IndexOf('/')];
            Sh(n3, $"ip neigh replace {gateway} lladdr {mac} dev flannel.1 nud permanent");
            Sh(n3, $"bridge fdb replace {mac} dev flannel.1 dst {publicIp} self permanent");
            Sh(n3, $"ip route replace {subnet} via {gateway} dev flannel.1 onlink");
        }
        File.WriteAllText(_lab.Layout.SubnetFile(3), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
        for (int i = 1; i <= 3; i++)
            _lab.AttachPod(i);

        // Every pair, both ways (our nodes learn node 3 from the watch within a second; poll generously).
        for (int from = 1; from <= 3; from++)
        {
            for (int to = 1; to <= 3; to++)
            {
                if (from == to)
                    continue;
                int f = from, t = to;
                Assert.That(LabTesting.Poll(() => LabTesting.Ping(LabLayout.PodNamespace(f), _lab.PodAddress(t), timeoutSeconds: 0.5), TimeSpan.FromSeconds(15)),
                    Is.Not.Null, $"pod {f} -> pod {t}");
            }
        }
        foreach (var (client, server) in new[] { (1, 3), (3, 2), (1, 2) })
        {
            var tcp = LabTesting.Iperf(LabLayout.PodNamespace(client), LabLayout.PodNamespace(server), _lab.PodAddress(server));
            TestContext.Out.WriteLine($"TCP pod {client} -> pod {server}: {tcp["sum_received"]!["bits_per_second"]!.GetValue<double>() / 1e6:0} Mbit/s");
            Assert.That(tcp["sum_received"]!["bytes"]!.GetValue<double>(), Is.GreaterThan(1_000_000), $"TCP pod {client} -> pod {server}");
        }
    }
}

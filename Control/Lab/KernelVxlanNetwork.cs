using System.Globalization;

namespace Control.Lab;

/// <summary>
/// The kernel's VXLAN device in each lab node, programmed exactly as flanneld's vxlan backend programs
/// <c>flannel.1</c> (reference/flannel.md §2.2 and §2.4): VNI 1, local = the underlay address, dev eth0, port 8472,
/// nolearning, MTU external − 50, address &lt;subnet&gt;.0/32; per peer a permanent neighbour (peer .0 → peer VTEP MAC),
/// a permanent FDB entry (peer MAC → peer underlay address) and the route "peer subnet via peer .0 onlink", in that order.
/// </summary>
internal static class KernelVxlanNetwork
{
    /// <summary>The device name flanneld uses for VNI 1.</summary>
    public const string Device = "flannel.1";

    /// <summary>1500 − 50 (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).</summary>
    public const int Mtu = 1450;

    /// <summary>
    /// Node i's VTEP MAC. flanneld picks a random locally administered unicast MAC; a fixed one per node
    /// (0x0a: locally administered bit set, multicast bit clear) keeps runs reproducible.
    /// </summary>
    public static string VtepMac(int i) => string.Create(CultureInfo.InvariantCulture, $"0a:58:c6:12:00:{i:x2}");

    /// <summary>Creates flannel.1 on nodes 1..<paramref name="nodes"/>, programs every peer and writes subnet.env.</summary>
    public static void Apply(LabLayout layout, int nodes)
    {
        for (int i = 1; i <= nodes; i++)
        {
            var ns = LabLayout.NodeNamespace(i);
            LabShell.InNs(ns, $"ip link add {Device} type vxlan id 1 local {LabLayout.UnderlayAddress(i)} dev eth0 dstport 8472 nolearning");
            LabShell.InNs(ns, $"ip link set {Device} mtu {Mtu} address {VtepMac(i)}");
            LabShell.InNs(ns, $"ip addr add {StaticSubnetEnv.SubnetAddress(i)}/32 dev {Device}");
            LabShell.InNs(ns, $"ip link set {Device} up");
        }
        for (int i = 1; i <= nodes; i++)
        {
            var ns = LabLayout.NodeNamespace(i);
            for (int j = 1; j <= nodes; j++)
            {
                if (j == i)
                    continue;
                LabShell.InNs(ns, $"ip neigh replace {StaticSubnetEnv.SubnetAddress(j)} lladdr {VtepMac(j)} dev {Device} nud permanent");
                LabShell.InNs(ns, $"bridge fdb replace {VtepMac(j)} dev {Device} dst {LabLayout.UnderlayAddress(j)} self permanent");
                // Last, as flanneld does: the kernel would otherwise try to resolve the gateway.
                LabShell.InNs(ns, $"ip route replace {StaticSubnetEnv.Subnet(j)} via {StaticSubnetEnv.SubnetAddress(j)} dev {Device} onlink");
            }
            StaticSubnetEnv.Write(layout, i, Mtu);
        }
    }

    /// <summary>Deletes flannel.1 (which takes its neighbours, FDB entries and routes with it) and the subnet files.</summary>
    public static void Remove(LabLayout layout, int nodes)
    {
        for (int i = 1; i <= nodes; i++)
        {
            LabShell.Try($"ip -n {LabLayout.NodeNamespace(i)} link del {Device}");
            if (File.Exists(layout.SubnetFile(i)))
                File.Delete(layout.SubnetFile(i));
        }
    }
}

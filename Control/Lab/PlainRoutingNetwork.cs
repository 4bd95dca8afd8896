namespace Control.Lab;

/// <summary>
/// Plain routing between lab nodes, no encapsulation: node i routes each peer's subnet via the peer's underlay
/// address (what flannel's host-gw backend does). The benchmark's "this machine's limit".
/// </summary>
internal static class PlainRoutingNetwork
{
    /// <summary>External MTU of the underlay: nothing is added per packet.</summary>
    public const int Mtu = 1500;

    /// <summary>Programs routes on nodes 1..<paramref name="nodes"/> and writes their subnet.env.</summary>
    public static void Apply(LabLayout layout, int nodes)
    {
        for (int i = 1; i <= nodes; i++)
        {
            var ns = LabLayout.NodeNamespace(i);
            for (int j = 1; j <= nodes; j++)
                if (j != i)
                    LabShell.InNs(ns, $"ip route replace {StaticSubnetEnv.Subnet(j)} via {LabLayout.UnderlayAddress(j)} dev eth0");
            StaticSubnetEnv.Write(layout, i, Mtu);
        }
    }

    /// <summary>Removes the routes and subnet files again (best effort; idempotent).</summary>
    public static void Remove(LabLayout layout, int nodes)
    {
        for (int i = 1; i <= nodes; i++)
        {
            for (int j = 1; j <= nodes; j++)
                if (j != i)
                    LabShell.Try($"ip -n {LabLayout.NodeNamespace(i)} route del {StaticSubnetEnv.Subnet(j)}");
            if (File.Exists(layout.SubnetFile(i)))
                File.Delete(layout.SubnetFile(i));
        }
    }
}

using System.Globalization;

namespace Control.Lab;

/// <summary>
/// Subnets and subnet.env for lab modes without a daemon (plain routing, the kernel's VXLAN device): node i owns
/// 10.244.i.0/24, and its subnet.env is written the way flanneld writes it (reference/flannel.md §4), so the pods are
/// attached exactly as in the daemon modes.
/// </summary>
internal static class StaticSubnetEnv
{
    /// <summary>Node i's subnet network address, e.g. "10.244.1.0".</summary>
    public static string SubnetAddress(int i) => "10.244." + i.ToString(CultureInfo.InvariantCulture) + ".0";

    /// <summary>Node i's subnet, e.g. "10.244.1.0/24".</summary>
    public static string Subnet(int i) => SubnetAddress(i) + "/24";

    /// <summary>
    /// Writes node i's subnet.env: FLANNEL_SUBNET is the first usable address with the subnet's prefix length, and
    /// FLANNEL_IPMASQ is false as when flanneld runs without --ip-masq (what the lab's daemons are started with).
    /// </summary>
    public static void Write(LabLayout layout, int i, int mtu)
    {
        Directory.CreateDirectory(layout.NodeDir(i));
        var text = string.Create(CultureInfo.InvariantCulture,
            $"FLANNEL_NETWORK={LabLayout.Network}\nFLANNEL_SUBNET=10.244.{i}.1/24\nFLANNEL_MTU={mtu}\nFLANNEL_IPMASQ=false\n");
        var tmp = layout.SubnetFile(i) + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, layout.SubnetFile(i), overwrite: true);
    }
}

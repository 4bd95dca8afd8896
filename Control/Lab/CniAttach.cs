using System.Text.Json;
using System.Text.Json.Nodes;

namespace Control.Lab;

/// <summary>
/// Attaches a pod namespace to its node the way the flannel CNI plugin does (reference/flannel.md §6): it reads
/// the node's subnet.env and hands the Debian <c>bridge</c> plugin the delegate config flannel would build
/// (bridge <c>cni0</c>, <c>isGateway</c>, <c>mtu = FLANNEL_MTU</c>, <c>ipMasq = !FLANNEL_IPMASQ</c>, host-local IPAM over
/// FLANNEL_SUBNET with a route to FLANNEL_NETWORK), plus the standard manifest's <c>hairpinMode</c> and
/// <c>isDefaultGateway</c>. The one lab-specific addition is a per-node IPAM <c>dataDir</c>, since all lab nodes
/// share one filesystem.
/// </summary>
internal static class CniAttach
{
    public const string PluginDir = "/usr/lib/cni";

    /// <summary>Parses subnet.env as the CNI plugin does: KEY=VALUE lines; all four keys required.</summary>
    public static IReadOnlyDictionary<string, string> ReadSubnetEnv(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(path))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
                values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        foreach (var key in new[] { "FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ" })
            if (!values.ContainsKey(key))
                throw new LabException($"{path}: {key} is missing (the flannel CNI plugin would refuse it too)");
        return values;
    }

    /// <summary>The delegate config flannel's CNI plugin would pass to the bridge plugin.</summary>
    public static string DelegateConfig(IReadOnlyDictionary<string, string> env, string ipamDataDir)
    {
        // FLANNEL_SUBNET is "10.244.1.1/24"; net.ParseCIDR gives the network 10.244.1.0/24.
        var subnet = Dataplane.Packets.Ipv4Prefix.Parse(env["FLANNEL_SUBNET"]);
        var config = new JsonObject
        {
            ["cniVersion"] = "0.3.1",
            ["name"] = "cbr0",
            ["type"] = "bridge",
            ["hairpinMode"] = true,
            ["isDefaultGateway"] = true,
            ["isGateway"] = true,
            ["ipMasq"] = env["FLANNEL_IPMASQ"] != "true",
            ["mtu"] = int.Parse(env["FLANNEL_MTU"], System.Globalization.CultureInfo.InvariantCulture),
            ["ipam"] = new JsonObject
            {
                ["type"] = "host-local",
                ["dataDir"] = ipamDataDir,
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = subnet.ToString() })),
                ["routes"] = new JsonArray(new JsonObject { ["dst"] = env["FLANNEL_NETWORK"] }),
            },
        };
        return config.ToJsonString();
    }

    /// <summary>Runs the bridge plugin inside the node namespace for the pod namespace; returns the pod's IPv4 address.</summary>
    public static string Add(string nodeNs, string podNs, string subnetFile, string ipamDataDir)
    {
        var conf = DelegateConfig(ReadSubnetEnv(subnetFile), ipamDataDir);
        var r = Invoke("ADD", nodeNs, podNs, conf);
        if (r.ExitCode != 0)
            throw new LabException($"CNI bridge ADD for {podNs} failed: {(r.StdOut + r.StdErr).Trim()}");
        var result = JsonNode.Parse(r.StdOut) ?? throw new LabException("CNI bridge returned no result");
        var address = result["ips"]?[0]?["address"]?.GetValue<string>() ?? throw new LabException($"CNI result has no address: {r.StdOut}");
        return address.Split('/')[0];
    }

    /// <summary>Runs the bridge plugin's DEL (best effort).</summary>
    public static void Delete(string nodeNs, string podNs, string subnetFile, string ipamDataDir)
    {
        if (!File.Exists(subnetFile))
            return;
        try
        {
            Invoke("DEL", nodeNs, podNs, DelegateConfig(ReadSubnetEnv(subnetFile), ipamDataDir));
        }
        catch (LabException)
        {
        }
        catch (JsonException)
        {
        }
    }

    private static LabShell.Result Invoke(string command, string nodeNs, string podNs, string conf) =>
        LabShell.Run("ip", ["netns", "exec", nodeNs, Path.Combine(PluginDir, "bridge")], conf, new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = podNs,
            ["CNI_NETNS"] = "/var/run/netns/" + podNs,
            ["CNI_IFNAME"] = "eth0",
            ["CNI_PATH"] = PluginDir,
        });
}

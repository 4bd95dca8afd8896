using System.Globalization;
using System.Text.Json;
using Dataplane.Packets;

namespace Control.Config;

/// <summary>
/// Parses flannel's network config JSON with Go's <c>encoding/json</c> semantics and validates it as
/// flannel's <c>CheckNetworkConfig</c> does (pkg/subnet/config.go):
/// <list type="bullet">
/// <item>keys match case-insensitively; for repeated keys the last one wins; unknown keys are ignored, as Go's
/// decoder ignores them (flanneld says nothing; we name them in one warning, see <see cref="UnknownKeys"/>);</item>
/// <item><c>Backend</c> absent means udp (<c>parseBackendType</c>); present with an empty Type is an error;</item>
/// <item>SubnetLen defaults to 24 for networks of /22 or larger, else prefix+2; networks longer than /28
/// are refused; SubnetLen must be ≤ 30 and ≥ prefix+2;</item>
/// <item>SubnetMin defaults to Network + one subnet (the first subnet is skipped), SubnetMax to the last
/// subnet; both must lie in Network and on a SubnetLen boundary.</item>
/// </list>
/// Every error names the source and the problem; the parser never throws anything but <see cref="ControlException"/>.
/// </summary>
internal static class NetworkConfigParser
{
    private static readonly string[] OtherFlannelBackends =
        ["wireguard", "ipip", "ipsec", "alloc", "extension", "aws-vpc", "gce", "ali-vpc", "tencent-vpc"];

    // The keys of flannel's subnet.Config (pkg/subnet/config.go; ../shared/reference/flannel.md §3). The IPv6 ones are
    // known but only read with EnableIPv6=true, which is refused below, so with IPv6 off they are ignored, as flanneld
    // ignores them.
    private static readonly string[] KnownKeys =
    [
        "Network", "SubnetLen", "SubnetMin", "SubnetMax", "EnableIPv4", "EnableIPv6",
        "IPv6Network", "IPv6SubnetLen", "IPv6SubnetMin", "IPv6SubnetMax", "EnableNFTables", "Backend",
    ];

    // The Backend keys of flannel's udp and vxlan backends (each decodes Backend into its own struct, so a key another
    // backend uses is just as ignored); keys outside this list are named in the warning.
    private static readonly string[] KnownBackendKeys =
        ["Type", "Port", "VNI", "MTU", "DirectRouting", "GBP", "Learning", "MacPrefix"];

    /// <summary>
    /// Parses and validates <paramref name="json"/>; <paramref name="source"/> names it in errors. Keys flannel does
    /// not know are ignored as flanneld ignores them, and named once through <paramref name="warn"/> (a typo such as
    /// <c>"Subnetlen"</c> would otherwise pass unseen).
    /// </summary>
    public static NetworkConfig Parse(string json, string source, Action<string>? warn = null)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw Fail(source, $"invalid JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(source, $"the config must be a JSON object, not {Describe(root.ValueKind)}");

            bool enableIpv4 = GetBool(root, "EnableIPv4", source) ?? true;
            bool enableIpv6 = GetBool(root, "EnableIPv6", source) ?? false;
            if (!enableIpv4)
                throw Fail(source, "EnableIPv4=false (an IPv6-only network) is not supported");
            if (enableIpv6)
                throw Fail(source, "EnableIPv6 (dual stack) is not supported yet");
            // flannel's stock net-conf.json carries "EnableNFTables": false; we manage iptables only, so false (and
            // absent) is what we do, and true is refused by name rather than silently ignored.
            if (GetBool(root, "EnableNFTables", source) == true)
                throw Fail(source, "EnableNFTables=true is not supported: this dataplane manages iptables rules only (set it to false)");

            var networkText = GetString(root, "Network", source);
            Ipv4Prefix network = default;
            if (networkText is not null && !Ipv4Prefix.TryParse(networkText, out network))
                throw Fail(source, $"Network \"{networkText}\" is not an IPv4 CIDR (a.b.c.d/len)");
            // Go's IP4Net.Empty(): a missing Network and 0.0.0.0/0 are both "no network".
            if (network.Address.Value == 0 && network.Length == 0)
                throw Fail(source, "please define a correct Network parameter in the flannel config");

            long subnetLen = GetUInt(root, "SubnetLen", source) ?? 0;
            var subnetMin = GetAddress(root, "SubnetMin", source);
            var subnetMax = GetAddress(root, "SubnetMax", source);
            var backend = ParseBackend(root, source);
            if (warn is not null && UnknownKeys(root) is { Count: > 0 } unknown)
                warn($"{source}: ignoring keys flannel does not know (flanneld ignores them too): {string.Join(", ", unknown)}");

            int len;
            if (subnetLen > 0)
            {
                if (subnetLen > 30)
                    throw Fail(source, $"SubnetLen must be less than /31 (got {subnetLen})");
                if (subnetLen < network.Length + 2)
                    throw Fail(source, $"network must be able to accommodate at least four subnets (Network {network} is too small for SubnetLen {subnetLen})");
                len = (int)subnetLen;
            }
            else if (network.Length > 28)
            {
                throw Fail(source, $"network is too small. Minimum useful network prefix is /28 (Network {network})");
            }
            else
            {
                len = network.Length <= 22 ? 24 : network.Length + 2;
            }

            uint size = 1u << (32 - len);
            Ipv4Address min, max;
            if (subnetMin is not { Value: not 0 } givenMin)
                min = new Ipv4Address(network.Address.Value + size);
            else if (!network.Contains(givenMin))
                throw Fail(source, $"SubnetMin {givenMin} is not in the range of the Network {network}");
            else
                min = givenMin;
            if (subnetMax is not { Value: not 0 } givenMax)
                max = new Ipv4Address(network.LastAddress.Value + 1 - size);
            else if (!network.Contains(givenMax))
                throw Fail(source, $"SubnetMax {givenMax} is not in the range of the Network {network}");
            else
                max = givenMax;
            uint mask = Ipv4Prefix.MaskOf(len);
            if ((min.Value & mask) != min.Value)
                throw Fail(source, $"SubnetMin is not on a SubnetLen boundary: {min}");
            if ((max.Value & mask) != max.Value)
                throw Fail(source, $"SubnetMax is not on a SubnetLen boundary: {max}");
            return new NetworkConfig(network, len, min, max, backend);
        }
    }

    private static BackendConfig ParseBackend(JsonElement root, string source)
    {
        if (!TryGet(root, "Backend", out var be) || be.ValueKind == JsonValueKind.Undefined)
            return BackendConfig.DefaultUdp;
        if (be.ValueKind != JsonValueKind.Object)
            throw Fail(source, $"error decoding Backend property of config: expected an object, got {Describe(be.ValueKind)}");
        var typeText = GetString(be, "Type", source, "Backend.");
        if (string.IsNullOrEmpty(typeText))
            throw Fail(source, "Backend.Type is missing or empty (flannel: unknown backend type); use \"udp\", \"vxlan\" or \"host-gw\"");
        var type = typeText.ToLowerInvariant() switch
        {
            "udp" => BackendType.Udp,
            "vxlan" => BackendType.Vxlan,
            "host-gw" => BackendType.HostGw,
            var other when OtherFlannelBackends.Contains(other) =>
                throw Fail(source, $"backend type \"{typeText}\" is not supported: this dataplane speaks udp, vxlan and host-gw"),
            _ => throw Fail(source, $"unknown backend type \"{typeText}\": use \"udp\", \"vxlan\" or \"host-gw\""),
        };
        long? port = GetUInt(be, "Port", source, "Backend.");
        if (port > ushort.MaxValue)
            throw Fail(source, $"Backend.Port {port} is not a UDP port (0..65535)");
        long? vni = GetUInt(be, "VNI", source, "Backend.");
        if (vni > 0xFF_FFFF)
            throw Fail(source, $"Backend.VNI {vni} does not fit in 24 bits");
        if (type == BackendType.Udp && vni is not null)
            throw Fail(source, "Backend.VNI is a vxlan setting; the udp backend has no VNI");
        long? mtu = GetUInt(be, "MTU", source, "Backend.");
        var result = new BackendConfig(
            type,
            port is null or 0 ? type switch { BackendType.Udp => BackendConfig.DefaultUdpPort, BackendType.Vxlan => BackendConfig.DefaultVxlanPort, _ => (ushort)0 } : (ushort)port.Value,
            (uint)(vni ?? 1),
            mtu is null or 0 ? null : (int)Math.Min(mtu.Value, int.MaxValue));
        if (result.Mtu is int m && (m < 68 + result.Overhead || m > 65535))
            throw Fail(source, $"Backend.MTU {m} is out of range ({68 + result.Overhead}..65535 for {result.TypeName})");
        if (type == BackendType.Vxlan && GetBool(be, "DirectRouting", source) == true)
            result = result with { DirectRouting = true };
        foreach (var unsupported in new[] { "GBP", "Learning", "MacPrefix" })
        {
            if (type == BackendType.Vxlan && TryGet(be, unsupported, out var v) && v.ValueKind is not (JsonValueKind.False or JsonValueKind.Null))
                throw Fail(source, $"Backend.{unsupported} is not supported yet");
        }
        return result;
    }

    /// <summary>Keys outside flannel's config (top level and Backend), in document order, Backend's as <c>Backend.Key</c>.</summary>
    internal static List<string> UnknownKeys(JsonElement root)
    {
        var unknown = new List<string>();
        foreach (var property in root.EnumerateObject())
        {
            if (!KnownKeys.Contains(property.Name, StringComparer.OrdinalIgnoreCase))
                unknown.Add(property.Name);
        }
        if (TryGet(root, "Backend", out var backend) && backend.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in backend.EnumerateObject())
            {
                if (!KnownBackendKeys.Contains(property.Name, StringComparer.OrdinalIgnoreCase))
                    unknown.Add("Backend." + property.Name);
            }
        }
        return unknown;
    }

    /// <summary>Go's case-insensitive field match; the last matching key wins, as Go assigns them in order.</summary>
    private static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        value = default;
        bool found = false;
        foreach (var property in obj.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                found = true;
            }
        }
        // JSON null leaves a Go field untouched: treat it as absent.
        if (found && value.ValueKind == JsonValueKind.Null)
        {
            value = default;
            return false;
        }
        return found;
    }

    private static string? GetString(JsonElement obj, string name, string source, string path = "")
    {
        if (!TryGet(obj, name, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.String)
            throw Fail(source, $"{path}{name} must be a string, not {Describe(v.ValueKind)}");
        return v.GetString();
    }

    private static bool? GetBool(JsonElement obj, string name, string source)
    {
        if (!TryGet(obj, name, out var v))
            return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(source, $"{name} must be true or false, not {Describe(v.ValueKind)}"),
        };
    }

    private static long? GetUInt(JsonElement obj, string name, string source, string path = "")
    {
        if (!TryGet(obj, name, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n) || n < 0)
            throw Fail(source, $"{path}{name} must be a non-negative integer, not {v.GetRawText()}");
        return n;
    }

    private static Ipv4Address? GetAddress(JsonElement obj, string name, string source)
    {
        var text = GetString(obj, name, source);
        if (text is null)
            return null;
        if (!Ipv4Address.TryParse(text, out var address))
            throw Fail(source, $"{name} \"{text}\" is not an IPv4 address");
        return address;
    }

    private static string Describe(JsonValueKind kind) => kind.ToString().ToLower(CultureInfo.InvariantCulture);

    private static ControlException Fail(string source, string problem) => new($"{source}: {problem}");
}

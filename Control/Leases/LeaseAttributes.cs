using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// flannel's <c>LeaseAttrs</c>: the value stored under a subnet key. Serialised exactly as Go's
/// <c>json.Marshal(LeaseAttrs)</c> does (pkg/lease/lease.go): fields in declaration order, <c>PublicIPv6</c>
/// without omitempty (so always <c>null</c> for us), <c>BackendType</c> and <c>BackendData</c> omitted when
/// empty, <c>BackendV6Data</c> never present (IPv4 only). A udp node publishes only its PublicIP.
/// </summary>
/// <param name="PublicIP">The node's external address; peers send to it.</param>
/// <param name="BackendType">"vxlan", or null/empty for udp (flannel's udp backend leaves it empty).</param>
/// <param name="BackendData">The backend's raw JSON object, compact, or null.</param>
internal sealed record LeaseAttributes(Ipv4Address PublicIP, string? BackendType = null, string? BackendData = null)
{
    /// <summary>A udp node's attributes: <c>{"PublicIP":"…","PublicIPv6":null}</c>.</summary>
    public static LeaseAttributes ForUdp(Ipv4Address publicIp) => new(publicIp);

    /// <summary>A vxlan node's attributes, with BackendData <c>{"VNI":n,"VtepMAC":"xx:…"}</c>.</summary>
    public static LeaseAttributes ForVxlan(Ipv4Address publicIp, uint vni, MacAddress vtepMac) =>
        new(publicIp, "vxlan", new VxlanBackendData(vni, vtepMac).ToJson());

    /// <summary>
    /// A host-gw node's attributes: <c>{"PublicIP":"…","PublicIPv6":null,"BackendType":"host-gw"}</c> (pkg/backend/hostgw:
    /// <c>LeaseAttrs{BackendType: "host-gw", PublicIP: ExtAddr}</c>, no BackendData).
    /// </summary>
    public static LeaseAttributes ForHostGw(Ipv4Address publicIp) => new(publicIp, HostGwType);

    /// <summary>flannel's BackendType string for host-gw leases.</summary>
    public const string HostGwType = "host-gw";

    /// <summary>True when the lease says host-gw (flannel's route_network.go compares the string exactly).</summary>
    public bool IsHostGw => string.Equals(BackendType, HostGwType, StringComparison.Ordinal);

    /// <summary>True when the lease says vxlan (flannel compares the string exactly).</summary>
    public bool IsVxlan => string.Equals(BackendType, "vxlan", StringComparison.Ordinal);

    /// <summary>The exact bytes flanneld stores in etcd for these attributes (UTF-8, no trailing newline).</summary>
    public byte[] ToJsonBytes() => Encoding.UTF8.GetBytes(ToJson());

    /// <summary>The exact text flanneld stores in etcd for these attributes.</summary>
    public string ToJson()
    {
        var sb = new StringBuilder(128);
        sb.Append(CultureInfo.InvariantCulture, $"{{\"PublicIP\":\"{PublicIP}\",\"PublicIPv6\":null");
        if (!string.IsNullOrEmpty(BackendType))
            // JsonEncodedText escapes exactly as JsonSerializer.Serialize(string) does (the default encoder), without the
            // serializer's reflection (NativeAOT: IL2026/IL3050).
            sb.Append(",\"BackendType\":\"").Append(JsonEncodedText.Encode(BackendType).ToString()).Append('"');
        if (!string.IsNullOrEmpty(BackendData))
            sb.Append(",\"BackendData\":").Append(BackendData);
        return sb.Append('}').ToString();
    }

    /// <summary>
    /// Parses a stored value with Go's semantics (case-insensitive keys, unknown keys ignored). A value without
    /// a valid IPv4 PublicIP is refused: no route can be built from it.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out LeaseAttributes? attributes, [NotNullWhen(false)] out string? error)
    {
        attributes = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "not a JSON object";
                return false;
            }
            string? publicIp = null, backendType = null, backendData = null;
            foreach (var p in root.EnumerateObject())
            {
                if (string.Equals(p.Name, "PublicIP", StringComparison.OrdinalIgnoreCase))
                    publicIp = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText();
                else if (string.Equals(p.Name, "BackendType", StringComparison.OrdinalIgnoreCase))
                    backendType = p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw new FormatException("BackendType is not a string");
                else if (string.Equals(p.Name, "BackendData", StringComparison.OrdinalIgnoreCase))
                    backendData = p.Value.ValueKind == JsonValueKind.Null ? null : Compact(p.Value);
            }
            if (!Ipv4Address.TryParse(publicIp, out var address))
            {
                error = publicIp is null ? "PublicIP is missing" : $"PublicIP {publicIp} is not an IPv4 address";
                return false;
            }
            attributes = new LeaseAttributes(address, backendType, backendData);
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            error = e.Message;
            return false;
        }
    }

    private static string Compact(JsonElement element)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
            element.WriteTo(writer);
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// vxlan's <c>BackendData</c>: <c>{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}</c> (pkg/backend/vxlan
/// <c>vxlanLeaseAttrs</c>). Leases older than flannel v0.11 carry no VNI; <see cref="Vni"/> is then 0.
/// </summary>
/// <param name="Vni">The peer's VNI, 0 when absent.</param>
/// <param name="VtepMac">The peer's VTEP MAC.</param>
internal readonly record struct VxlanBackendData(uint Vni, MacAddress VtepMac)
{
    /// <summary>The compact JSON Go writes: VNI first, MAC lowercase and colon separated.</summary>
    public string ToJson() => string.Create(CultureInfo.InvariantCulture, $"{{\"VNI\":{Vni},\"VtepMAC\":\"{VtepMac}\"}}");

    /// <summary>Parses BackendData with Go's case-insensitive keys; false (with the reason) when unusable.</summary>
    public static bool TryParse(string? json, out VxlanBackendData data, [NotNullWhen(false)] out string? error)
    {
        data = default;
        if (string.IsNullOrEmpty(json))
        {
            error = "BackendData is missing";
            return false;
        }
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "BackendData is not a JSON object";
                return false;
            }
            uint vni = 0;
            MacAddress? mac = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (string.Equals(p.Name, "VNI", StringComparison.OrdinalIgnoreCase))
                {
                    if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetUInt32(out vni))
                    {
                        error = $"VNI {p.Value.GetRawText()} is not a number";
                        return false;
                    }
                }
                else if (string.Equals(p.Name, "VtepMAC", StringComparison.OrdinalIgnoreCase))
                {
                    mac = p.Value.ValueKind == JsonValueKind.String && MacAddress.TryParse(p.Value.GetString(), out var m) ? m : null;
                    if (mac is null)
                    {
                        error = $"VtepMAC {p.Value.GetRawText()} is not a MAC address";
                        return false;
                    }
                }
            }
            if (mac is not MacAddress vtep)
            {
                error = "VtepMAC is missing";
                return false;
            }
            data = new VxlanBackendData(vni, vtep);
            error = null;
            return true;
        }
        catch (JsonException e)
        {
            error = e.Message;
            return false;
        }
    }
}

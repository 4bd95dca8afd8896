using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// The expiry and ownership record kept beside a dynamic lease in the embedded store
/// (<c>DIR/subnets/.meta/A.B.C.D-LEN</c>). A lease file without one is static and never expires.
/// </summary>
/// <param name="Expiration">Absolute expiry (wall clock, shared by every process on the machine).</param>
/// <param name="PublicIP">The holder's PublicIP when it was written: identifies the owner even if the value is corrupt.</param>
/// <param name="Pid">The writing process, for operators.</param>
internal sealed record LeaseMetadata(DateTimeOffset Expiration, Ipv4Address PublicIP, int Pid)
{
    /// <summary>Serialises as one line of JSON.</summary>
    public byte[] ToJsonBytes() => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
        $"{{\"Expiration\":\"{Expiration.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"PublicIP\":\"{PublicIP}\",\"Pid\":{Pid}}}\n"));

    /// <summary>Parses a metadata file; false with the reason when unusable.</summary>
    public static bool TryParse(byte[] bytes, [NotNullWhen(true)] out LeaseMetadata? metadata, [NotNullWhen(false)] out string? error)
    {
        metadata = null;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("Expiration", out var exp) || exp.ValueKind != JsonValueKind.String
                || !DateTimeOffset.TryParse(exp.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var expiration))
            {
                error = "metadata has no valid Expiration";
                return false;
            }
            Ipv4Address publicIp = default;
            if (root.TryGetProperty("PublicIP", out var ip) && ip.ValueKind == JsonValueKind.String)
                Ipv4Address.TryParse(ip.GetString(), out publicIp);
            int pid = root.TryGetProperty("Pid", out var p) && p.TryGetInt32(out int v) ? v : 0;
            metadata = new LeaseMetadata(expiration, publicIp, pid);
            error = null;
            return true;
        }
        catch (JsonException e)
        {
            error = $"metadata is not JSON: {e.Message}";
            return false;
        }
    }
}

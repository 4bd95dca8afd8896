using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Dataplane.Packets;

namespace Control.Leases;

/// <summary>
/// flannel's subnet key: <c>A.B.C.D-LEN</c> (<c>MakeSubnetKey</c>, <c>sn.StringSep(".", "-")</c>). It names the
/// etcd key under <c>&lt;prefix&gt;/subnets/</c> and, in the embedded store, the file under <c>DIR/subnets/</c>.
/// Dual-stack keys (<c>…&amp;v6-LEN</c>) are not parsed: we are IPv4 only.
/// </summary>
internal static class SubnetKey
{
    /// <summary>Formats <paramref name="subnet"/> as a key.</summary>
    public static string Format(Ipv4Prefix subnet) =>
        string.Create(CultureInfo.InvariantCulture, $"{subnet.Address}-{subnet.Length}");

    /// <summary>Parses a key; false for anything else (including a key whose address has host bits set).</summary>
    public static bool TryParse(string key, [NotNullWhen(true)] out Ipv4Prefix? subnet)
    {
        subnet = null;
        int dash = key.LastIndexOf('-');
        if (dash <= 0 || !Ipv4Address.TryParse(key.AsSpan(0, dash), out var address))
            return false;
        var lenText = key.AsSpan(dash + 1);
        if (lenText.Length is 0 or > 2 || !int.TryParse(lenText, NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length > 32)
            return false;
        var prefix = new Ipv4Prefix(address, length);
        if (prefix.Address != address)
            return false;
        subnet = prefix;
        return true;
    }
}

using System.Globalization;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Dataplane.Packets;

namespace Control.Interfaces;

/// <summary>
/// Reads interfaces through <see cref="NetworkInterface"/> (getifaddrs plus /sys/class/net/*/mtu on Linux) and
/// the default route from <c>/proc/net/route</c>; both reflect the calling process's network namespace.
/// </summary>
internal sealed class SystemHostInterfaces : IHostInterfaces
{
    private const uint RtfUp = 0x0001;
    private readonly string _routeTable;

    /// <summary>Reads the real host; <paramref name="routeTable"/> is overridable for tests.</summary>
    public SystemHostInterfaces(string routeTable = "/proc/net/route") => _routeTable = routeTable;

    /// <inheritdoc/>
    public IReadOnlyList<HostInterface> List()
    {
        var result = new List<HostInterface>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            var props = nic.GetIPProperties();
            var addresses = props.UnicastAddresses
                .Where(a => a.Address.AddressFamily == AddressFamily.InterNetwork)
                .Select(a => Ipv4Address.FromIPAddress(a.Address))
                .ToList();
            int mtu = 0;
            try
            {
                mtu = props.GetIPv4Properties()?.Mtu ?? 0;
            }
            catch (NetworkInformationException)
            {
            }
            result.Add(new HostInterface(nic.Name, mtu, addresses));
        }
        return result;
    }

    /// <inheritdoc/>
    public string? DefaultRouteInterface()
    {
        if (!File.Exists(_routeTable))
            return null;
        return ParseDefaultRoute(File.ReadAllLines(_routeTable));
    }

    /// <summary>
    /// Picks the up default route (Destination and Mask 0) with the lowest metric from /proc/net/route text:
    /// <c>Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT</c>, hex fields.
    /// </summary>
    internal static string? ParseDefaultRoute(IEnumerable<string> lines)
    {
        string? best = null;
        long bestMetric = long.MaxValue;
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8)
                continue;
            if (f[1] != "00000000" || f[7] != "00000000")
                continue;
            if (!uint.TryParse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint flags) || (flags & RtfUp) == 0)
                continue;
            long metric = long.TryParse(f[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out long m) ? m : 0;
            if (metric < bestMetric)
            {
                best = f[0];
                bestMetric = metric;
            }
        }
        return best;
    }
}

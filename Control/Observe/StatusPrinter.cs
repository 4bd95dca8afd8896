using System.Globalization;

namespace Control.Observe;

/// <summary>Human-readable <c>dataplane status</c> and <c>routes</c>.</summary>
internal static class StatusPrinter
{
    /// <summary>Writes the status report.</summary>
    public static void Print(TextWriter o, StatusReport s, DateTimeOffset now)
    {
        o.WriteLine($"node      subnet {s.Subnet ?? "-"} in {s.Network ?? "-"}, backend {s.Backend ?? "-"}, public IP {s.PublicIp ?? "-"}, {(s.Ready ? "ready" : "not ready")}");
        o.WriteLine($"uptime    {Duration(TimeSpan.FromSeconds(s.UptimeSeconds))}; lease {(s.LeaseExpiration is { } e ? $"expires {e.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)} (in {Duration(e - now)})" : "static or not held yet")}");
        o.WriteLine($"data path {s.DataPath ?? "not started"}");
        if (s.Io is not null)
        {
            o.WriteLine($"io        {s.Io}; offloads {string.Join(", ", s.Offloads.Select(kv => $"{kv.Key} {(kv.Value ? "on" : "off")}"))}");
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"routes    {s.Routes} (table generation {s.TableGeneration}); ICMP errors sent {s.IcmpErrorsSent}"));
        }
        o.WriteLine();
        o.WriteLine($"{"PEER",-16} {"SUBNETS",-18} {"SENT PKTS",12} {"SENT BYTES",14} {"RECV PKTS",12} {"RECV BYTES",14}  {"LAST SENT",-10} LAST RECEIVED");
        foreach (var p in s.Peers)
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Address,-16} {(p.Subnets.Count == 0 ? "-" : string.Join(',', p.Subnets)),-18} {p.SentPackets,12} {p.SentBytes,14} {p.ReceivedPackets,12} {p.ReceivedBytes,14}  {Ago(p.LastSent, now),-10} {Ago(p.LastReceived, now)}"));
        }
        if (s.Peers.Count == 0)
            o.WriteLine("(no peers)");
        o.WriteLine();
        o.WriteLine(s.Drops.Count == 0
            ? "drops     none"
            : "drops     " + string.Join(", ", s.Drops.OrderByDescending(kv => kv.Value).Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value}"))));
    }

    /// <summary>Writes the forwarding table.</summary>
    public static void PrintRoutes(TextWriter o, IReadOnlyList<RouteEntry> routes)
    {
        o.WriteLine($"{"DESTINATION",-20} {"PEER",-22} {"ENCAP",-6} VTEP");
        foreach (var r in routes)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Destination,-20} {r.Peer,-22} {r.Encapsulation,-6} {(r.VtepMac is null ? "-" : $"{r.VtepMac} VNI {r.Vni}")}"));
        if (routes.Count == 0)
            o.WriteLine("(no routes)");
    }

    private static string Ago(DateTimeOffset? when, DateTimeOffset now) => when is { } t ? Duration(now - t) + " ago" : "never";

    private static string Duration(TimeSpan d)
    {
        if (d < TimeSpan.Zero)
            d = TimeSpan.Zero;
        return d.TotalSeconds < 60 ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalSeconds:0.0}s")
            : d.TotalHours < 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalMinutes}m{d.Seconds:00}s")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalHours}h{d.Minutes:00}m");
    }
}

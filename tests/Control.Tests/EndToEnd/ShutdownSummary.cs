using System.Globalization;
using System.Text.RegularExpressions;

namespace Control.Tests.EndToEnd;

/// <summary>
/// The data path's shutdown line: <c>Data path stopped in N ms: sent X packets, delivered Y, ICMP errors Z, drops:
/// Reason=count …</c> (or <c>drops: none</c>).
/// </summary>
internal sealed partial record ShutdownSummary(int StopMs, long Sent, long Delivered, long IcmpErrors, IReadOnlyDictionary<string, long> Drops)
{
    /// <summary>Drops counted for <paramref name="reason"/> (0 when absent).</summary>
    public long Dropped(string reason) => Drops.TryGetValue(reason, out var n) ? n : 0;

    /// <summary>Finds and parses the line in <paramref name="log"/>; fails the test when it is missing.</summary>
    public static ShutdownSummary From(string log)
    {
        var m = Line().Match(log);
        Assert.That(m.Success, Is.True, "no 'Data path stopped' line in the daemon log:\n" + log);
        var drops = new Dictionary<string, long>();
        if (m.Groups["drops"].Value.Trim() != "none")
        {
            foreach (var pair in m.Groups["drops"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=');
                drops[kv[0]] = long.Parse(kv[1], CultureInfo.InvariantCulture);
            }
        }
        return new ShutdownSummary(Int(m, "ms"), Long(m, "sent"), Long(m, "delivered"), Long(m, "icmp"), drops);
    }

    private static int Int(Match m, string g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);

    private static long Long(Match m, string g) => long.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Data path stopped in (?<ms>\d+) ms[^:]*: sent (?<sent>\d+) packets, delivered (?<delivered>\d+), ICMP errors (?<icmp>\d+), ARP replies \d+, drops: (?<drops>[^;\n]*)")]
    private static partial Regex Line();
}

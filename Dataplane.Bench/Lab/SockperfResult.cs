using System.Globalization;
using System.Text.RegularExpressions;

namespace Control.Bench;

/// <summary>
/// Latency percentiles from <c>sockperf ping-pong</c>. sockperf reports half the round trip ("latency" =
/// RTT/2) in microseconds, over the valid period after its warm-up.
/// </summary>
internal sealed partial record SockperfResult(double P50Microseconds, double P99Microseconds, long Observations)
{
    /// <summary>Parses sockperf's summary lines ("---> percentile 99.000 =    7.250"); throws if they are missing.</summary>
    public static SockperfResult Parse(string output)
    {
        double? p50 = null, p99 = null;
        foreach (Match m in Percentile().Matches(output))
        {
            var which = m.Groups[1].Value;
            var value = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (which == "50.000")
                p50 = value;
            else if (which == "99.000")
                p99 = value;
        }
        var total = TotalObservations().Match(output);
        if (p50 is null || p99 is null)
            throw new BenchException($"sockperf printed no p50/p99: {output.Trim()[..Math.Min(300, output.Trim().Length)]}");
        return new SockperfResult(p50.Value, p99.Value, total.Success ? long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture) : 0);
    }

    [GeneratedRegex(@"percentile\s+(\d+\.\d+)\s*=\s*([0-9.]+)")]
    private static partial Regex Percentile();

    [GeneratedRegex(@"Total\s+(\d+)\s+observations")]
    private static partial Regex TotalObservations();
}

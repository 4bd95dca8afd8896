using System.Globalization;
using System.Text.RegularExpressions;

namespace Control.Commands;

/// <summary>Parses Go <c>time.Duration</c> strings such as <c>5s</c>, <c>1m30s</c>, <c>500ms</c>, <c>1.5h</c>.</summary>
internal static partial class GoDuration
{
    [GeneratedRegex(@"\G(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    /// <summary>Parses <paramref name="text"/>; false when it is not a Go duration.</summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
            return false;
        if (text == "0")
            return true;
        int at = 0;
        double ticks = 0;
        while (at < text.Length)
        {
            var m = Part().Match(text, at);
            if (!m.Success)
                return false;
            double n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            ticks += n * m.Groups[2].Value switch
            {
                "ns" => TimeSpan.TicksPerMicrosecond / 1000.0,
                "us" or "µs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                _ => TimeSpan.TicksPerHour,
            };
            at += m.Length;
        }
        if (ticks > TimeSpan.MaxValue.Ticks)
            return false;
        duration = TimeSpan.FromTicks((long)ticks);
        return true;
    }
}

using System.Globalization;

namespace Control.Bench;

/// <summary>Event counts from <c>perf stat -x,</c> (CSV on stderr: value,unit,event,...).</summary>
internal sealed record PerfStatResult(IReadOnlyDictionary<string, long> Counts)
{
    /// <summary>Parses the CSV lines; "&lt;not counted&gt;" and "&lt;not supported&gt;" become 0.</summary>
    public static PerfStatResult Parse(string csv)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var raw in csv.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var f = line.Split(',');
            if (f.Length < 3 || f[2].Length == 0)
                continue;
            counts[f[2]] = long.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : 0;
        }
        return new PerfStatResult(counts);
    }

    public long this[string name] => Counts.TryGetValue(name, out long v) ? v : 0;
}

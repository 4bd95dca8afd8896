using System.Globalization;
using System.Text.RegularExpressions;

namespace Control.Tests.Observe;

/// <summary>
/// A strict parser of the Prometheus text exposition format 0.0.4 (what /metrics must be): every line is a comment
/// (HELP/TYPE) or a sample; names and label names match the format's grammar; label values are quoted with the three
/// escapes; a sample's family has a TYPE line before it; TYPE appears once per family; values are floats. Anything
/// else fails the test with the offending line.
/// </summary>
internal sealed partial class PrometheusText
{
    private readonly List<Sample> _samples = [];

    /// <summary>Metric family → its TYPE.</summary>
    public Dictionary<string, string> Types { get; } = [];

    public IReadOnlyList<Sample> Samples => _samples;

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    public static PrometheusText Parse(string text)
    {
        var result = new PrometheusText();
        Assert.That(text, Does.EndWith("\n"), "the exposition ends with a newline");
        foreach (var line in text.Split('\n')[..^1])
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.That(parts, Has.Length.EqualTo(4), line);
                Assert.That(MetricName().IsMatch(parts[2]), Is.True, line);
                Assert.That(parts[3], Is.AnyOf("counter", "gauge", "histogram", "summary", "untyped"), line);
                Assert.That(result.Types.TryAdd(parts[2], parts[3]), Is.True, $"TYPE twice: {line}");
                continue;
            }
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.That(MetricName().IsMatch(line.Split(' ')[2]), Is.True, line);
                continue;
            }
            Assert.That(line, Is.Not.Empty.And.Not.StartWith("#"), "only HELP/TYPE comments and samples");
            result._samples.Add(ParseSample(line, result.Types));
        }
        return result;
    }

    private static Sample ParseSample(string line, Dictionary<string, string> types)
    {
        int i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
            i++;
        var name = line[..i];
        Assert.That(MetricName().IsMatch(name), Is.True, $"metric name: {line}");
        var labels = new Dictionary<string, string>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                Assert.That(eq, Is.GreaterThan(i), line);
                var label = line[i..eq];
                Assert.That(LabelName().IsMatch(label), Is.True, $"label name '{label}': {line}");
                Assert.That(line[eq + 1], Is.EqualTo('"'), line);
                var value = new System.Text.StringBuilder();
                int j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new AssertionException($"bad escape in {line}"),
                        });
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }
                Assert.That(labels.TryAdd(label, value.ToString()), Is.True, $"label twice: {line}");
                i = j + 1;
                if (line[i] == ',')
                    i++;
            }
            i++;
        }
        Assert.That(line[i], Is.EqualTo(' '), line);
        var valueText = line[(i + 1)..];
        Assert.That(double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            || valueText is "NaN" or "+Inf" or "-Inf", Is.True, $"value: {line}");
        var family = name;
        Assert.That(types.ContainsKey(family), Is.True, $"no TYPE before {line}");
        if (types[family] == "counter")
            Assert.That(name, Does.EndWith("_total"), $"counters end in _total: {line}");
        return new Sample(name, labels, v);
    }

    /// <summary>The one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Name, string Value)[] labels)
    {
        var matches = _samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).ToList();
        Assert.That(matches, Has.Count.EqualTo(1), $"{name} {{{string.Join(',', labels.Select(l => $"{l.Name}={l.Value}"))}}}");
        return matches[0].Value;
    }
}

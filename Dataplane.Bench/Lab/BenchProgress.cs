using System.Diagnostics;
using System.Globalization;

namespace Control.Bench;

/// <summary>
/// The progress display: one line per finished step with its headline number, the step count, elapsed time and an
/// estimate of the time left (from the average step so far). Plain lines, so it reads the same in a terminal and in CI logs.
/// </summary>
internal sealed class BenchProgress(TextWriter output, int totalSteps)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _done;

    public void Note(string text)
    {
        output.WriteLine($"bench: {text}");
        output.Flush();
    }

    /// <summary>Counts one step as done and prints it.</summary>
    public void Step(string what, string outcome)
    {
        _done++;
        var elapsed = _clock.Elapsed;
        var left = _done >= totalSteps ? TimeSpan.Zero : elapsed / _done * (totalSteps - _done);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{_done,3}/{totalSteps}  {elapsed:m\\:ss} elapsed, ~{left:m\\:ss} left] {what}: {outcome}"));
        output.Flush();
    }

    /// <summary>Marks <paramref name="steps"/> steps as skipped so the estimate stays right.</summary>
    public void Skip(int steps) => totalSteps = Math.Max(_done, totalSteps - steps);
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// tcpdump on an interface inside a namespace, one text line per packet (-n -l), started and ready (its "listening on"
/// line seen) when the constructor returns. <see cref="Stop"/> ends it with SIGINT and returns the lines.
/// </summary>
internal sealed class PacketCapture : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _packets = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    /// <summary>Starts tcpdump; <paramref name="verbose"/> adds -v (IP flags such as DF, TTL, id).</summary>
    public PacketCapture(string ns, string iface, string filter, bool verbose = false)
    {
        Prerequisites.RequireTool("tcpdump");
        var psi = new ProcessStartInfo(Prerequisites.FindTool("ip") ?? "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "netns", "exec", ns, Prerequisites.FindTool("tcpdump")!, "-i", iface, "-n", "-l", "-p" })
            psi.ArgumentList.Add(a);
        if (verbose)
            psi.ArgumentList.Add("-v");
        foreach (var a in filter.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        // tcpdump writes a bare newline to stdout when interrupted: only non-empty lines are packets.
        _process.OutputDataReceived += (_, e) => { if (!string.IsNullOrWhiteSpace(e.Data)) _packets.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _stderr.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var ready = NodeAndPeer.Poll(() => _stderr.Any(l => l.Contains("listening on", StringComparison.Ordinal)) || _process.HasExited, TimeSpan.FromSeconds(10));
        Assert.That(ready is not null && !_process.HasExited, Is.True, "tcpdump did not start: " + string.Join('\n', _stderr));
    }

    /// <summary>Stops the capture (SIGINT, so tcpdump flushes) and returns one line per captured packet.</summary>
    public IReadOnlyList<string> Stop()
    {
        if (!_process.HasExited)
        {
            Sh.Run("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            if (!_process.WaitForExit(5000))
                _process.Kill();
        }
        _process.WaitForExit();
        return _packets.ToList();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}

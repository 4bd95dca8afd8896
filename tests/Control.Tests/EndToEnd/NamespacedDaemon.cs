using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Dataplane.Testing;

namespace Control.Tests.EndToEnd;

/// <summary>
/// One <c>dataplane run</c> process started as <c>ip netns exec NS [wrapper…] dotnet Dataplane.Control.dll run …</c>,
/// its output collected line by line. <c>ip netns exec</c> execs the command in place (no fork), so
/// <see cref="Pid"/> is the daemon itself: signals and /proc reads reach it directly.
/// </summary>
internal sealed class NamespacedDaemon : IDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    /// <summary>Starts the daemon in <paramref name="ns"/>; <paramref name="wrapper"/> runs before dotnet (setpriv, unshare…).</summary>
    public NamespacedDaemon(string ns, IEnumerable<string> runArgs, IEnumerable<string>? wrapper = null)
    {
        var args = runArgs.ToList();
        // Tests never touch the host's /run/dataplane: a daemon gets a control socket only when the test asks for one.
        if (!args.Any(a => a.TrimStart('-').StartsWith("control-socket", StringComparison.Ordinal)))
            args.AddRange(["--control-socket", "none"]);
        var psi = DataplaneProcess.StartInfo(["run", .. args]);
        var prefix = new List<string> { "netns", "exec", ns };
        prefix.AddRange(wrapper ?? []);
        prefix.Add(Prerequisites.FindTool("dotnet") ?? psi.FileName);
        for (int i = prefix.Count - 1; i >= 0; i--)
            psi.ArgumentList.Insert(0, prefix[i]);
        psi.FileName = Prerequisites.FindTool("ip") ?? "ip";
        Namespace = ns;
        Process = Process.Start(psi)!;
        Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            _lines.Enqueue(e.Data);
            _stderr.Enqueue(e.Data);
        };
        Process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        Process.BeginErrorReadLine();
        Process.BeginOutputReadLine();
    }

    /// <summary>The namespace the daemon runs in.</summary>
    public string Namespace { get; }

    /// <summary>The process (the daemon itself, see the class remarks).</summary>
    public Process Process { get; }

    /// <summary>Process id of the daemon.</summary>
    public int Pid => Process.Id;

    /// <summary>Everything written so far (stdout and stderr interleaved as received).</summary>
    public string Log => string.Join('\n', _lines);

    /// <summary>Lines written to stderr so far.</summary>
    public IReadOnlyList<string> StdErr => _stderr.ToList();

    /// <summary>Polls the output for <paramref name="text"/>; false on timeout or if the process exited without it.</summary>
    public bool WaitForLog(string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (HasLog(text))
                return true;
            if (Process.HasExited)
            {
                Process.WaitForExit(); // drains the output readers
                return HasLog(text);
            }
            Thread.Sleep(20);
        }
        return HasLog(text);
    }

    /// <summary>True when some output line contains <paramref name="text"/>.</summary>
    public bool HasLog(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Waits for exit (bounded) and drains the output; false on timeout.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!Process.WaitForExit(timeout))
            return false;
        Process.WaitForExit();
        return true;
    }

    /// <summary>Sends a signal (TERM, INT, KILL…) with kill(1).</summary>
    public void Signal(string name) =>
        Sh.Run("kill", [$"-{name}", Pid.ToString(CultureInfo.InvariantCulture)]).Check($"kill -{name}");

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            if (!Process.HasExited)
                Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        Process.Dispose();
    }
}

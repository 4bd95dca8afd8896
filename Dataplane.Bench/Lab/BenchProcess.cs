using System.Diagnostics;
using System.Text;

namespace Control.Bench;

/// <summary>
/// A tool started in the background (iperf3 server or client, sockperf, perf, tcpdump), usually inside a lab
/// namespace via <c>ip netns exec</c> (which execs, so the PID is the tool's). Output is collected; disposal kills it,
/// and <see cref="Lab.Lab.Down"/> kills anything left in the lab namespaces as a second line of defence.
/// </summary>
internal sealed class BenchProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly string _commandLine;

    private BenchProcess(string file, IReadOnlyList<string> args)
    {
        _commandLine = file + " " + string.Join(' ', args);
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        try
        {
            _process = Process.Start(psi) ?? throw new BenchException($"cannot start {file}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new BenchException($"cannot run {file}: {ex.Message} (scripts/install-deps.sh installs the benchmark's tools)");
        }
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.StandardInput.Close();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="args"/> inside namespace <paramref name="ns"/>.</summary>
    public static BenchProcess InNamespace(string ns, params string[] args) => new("ip", ["netns", "exec", ns, .. args]);

    public static BenchProcess Start(string file, params string[] args) => new(file, args);

    public string StdOut { get { lock (_stdout) return _stdout.ToString(); } }

    public string StdErr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits for exit; on timeout kills it and throws, naming the command.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            throw new BenchException($"'{_commandLine}' did not finish within {timeout.TotalSeconds:0} s");
        }
        _process.WaitForExit(); // drains the asynchronous output readers
        return _process.ExitCode;
    }

    /// <summary>Waits for exit and throws unless it succeeded.</summary>
    public string WaitForSuccess(TimeSpan timeout)
    {
        int code = WaitForExit(timeout);
        if (code != 0)
            throw new BenchException($"'{_commandLine}' exited {code}: {(StdErr + StdOut).Trim()}");
        return StdOut;
    }

    /// <summary>Sends SIGINT (tools flush and print their summary on it) and waits up to <paramref name="grace"/>, then kills.</summary>
    public void Interrupt(TimeSpan grace)
    {
        if (_process.HasExited)
            return;
        Lab.LabShell.Try($"kill -INT {_process.Id}");
        if (!_process.WaitForExit(grace))
            Kill();
        else
            _process.WaitForExit();
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(5));
        }
        catch (InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}

using System.Diagnostics;
using System.Text;

namespace Dataplane.Testing;

/// <summary>Runs external commands for test setup (ip, tcpdump, iperf3…). Tests may shell out; the daemon never does.</summary>
public static class Sh
{
    /// <summary>Result of a finished command.</summary>
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        /// <summary>Throws with the command's output when it failed.</summary>
        public Result Check(string what)
        {
            if (ExitCode != 0)
                throw new InvalidOperationException($"{what} failed ({ExitCode}): {StdErr.Trim()} {StdOut.Trim()}");
            return this;
        }
    }

    /// <summary>Runs a command to completion, bounded by <paramref name="timeout"/> (default 30 s).</summary>
    public static Result Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(Prerequisites.FindTool(file) ?? file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(30)))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        p.WaitForExit();
        lock (stdout) lock (stderr)
            return new Result(p.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a command given as one string split on spaces (no quoting), and checks its exit code.</summary>
    public static string Ok(string commandLine)
    {
        var parts = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return Run(parts[0], parts.Skip(1)).Check(commandLine).StdOut;
    }
}

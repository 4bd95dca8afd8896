using System.Diagnostics;
using System.Text;

namespace Control.Lab;

/// <summary>
/// Runs the external tools the lab drives (ip, sysctl, the CNI plugins). The lab is a test harness around the daemon;
/// the daemon itself programs the kernel through rtnetlink and never shells out.
/// </summary>
internal static class LabShell
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(string file, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new LabException($"cannot start {file}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new LabException($"cannot run {file}: {ex.Message} (is it installed? scripts/install-deps.sh installs the lab's tools)");
        }
        using (p)
        {
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
            if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
            {
                try { p.Kill(true); } catch (InvalidOperationException) { }
                throw new LabException($"{file} {string.Join(' ', args)} timed out");
            }
            p.WaitForExit();
            lock (stdout) lock (stderr)
                return new Result(p.ExitCode, stdout.ToString(), stderr.ToString());
        }
    }

    /// <summary>Runs a command line split on spaces and throws <see cref="LabException"/> when it fails.</summary>
    public static string Ok(string commandLine)
    {
        var parts = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var r = Run(parts[0], parts.Skip(1));
        if (r.ExitCode != 0)
            throw new LabException($"'{commandLine}' failed: {(r.StdErr + r.StdOut).Trim()}");
        return r.StdOut;
    }

    /// <summary>Runs a command line and ignores failure (cleanup paths).</summary>
    public static Result Try(string commandLine)
    {
        var parts = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return Run(parts[0], parts.Skip(1));
    }

    /// <summary>Runs inside a namespace.</summary>
    public static string InNs(string ns, string commandLine) => Ok($"ip netns exec {ns} {commandLine}");
}

/// <summary>A lab step failed; the message names the step and what the tool said.</summary>
internal sealed class LabException(string message) : Exception(message);

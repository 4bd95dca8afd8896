using System.Diagnostics;

namespace Control.Masquerade;

/// <summary>
/// How to run the iptables tools: which binaries, how long to wait for the xtables lock, and a hard bound on every
/// call. A call never hangs the daemon: <c>-w &lt;LockWait&gt;</c> makes iptables give up on a held xtables lock by itself
/// (exit 4, "Another app is currently holding the xtables lock"), and a process that outlives
/// <see cref="Timeout"/> (a hung binary, a lock it waits on without -w) is killed; both become a
/// <see cref="ControlException"/> naming the command and what to check.
/// </summary>
/// <param name="Iptables">The iptables binary (e.g. <c>iptables</c>, or <c>iptables-legacy</c> in tests).</param>
/// <param name="Restore">The matching iptables-restore binary.</param>
/// <param name="LockWait">Passed as <c>-w</c>: how long iptables waits for the xtables lock.</param>
/// <param name="Timeout">Hard bound on one call; must exceed <paramref name="LockWait"/>.</param>
/// <param name="Prefix">Words run before the binary (tests: <c>ip netns exec NS</c>); empty in production.</param>
internal sealed record IptablesTools(string Iptables, string Restore, TimeSpan LockWait, TimeSpan Timeout, IReadOnlyList<string> Prefix)
{
    /// <summary>The node's iptables: 5 s on the lock (flanneld's go-iptables waits forever with a bare -w), 15 s per call.</summary>
    public static IptablesTools Default { get; } = new("iptables", "iptables-restore", TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), []);
}

/// <summary>One bounded run of an iptables tool.</summary>
internal sealed class IptablesRunner(IptablesTools tools)
{
    /// <summary>The tools in use.</summary>
    public IptablesTools Tools => tools;

    /// <summary>Runs <c>iptables -w N args</c>; returns the exit code and stderr (a rule check's non-zero exit is an answer, not a failure).</summary>
    public (int ExitCode, string Error) Iptables(params string[] args) => Run(tools.Iptables, ["-w", LockSeconds, .. args], null);

    /// <summary>Runs <c>iptables-restore -w N --noflush</c> with <paramref name="payload"/> on stdin; throws unless it succeeds.</summary>
    public void Restore(string payload)
    {
        var (code, error) = Run(tools.Restore, ["-w", LockSeconds, "--noflush"], payload);
        if (code != 0)
            throw new ControlException($"{tools.Restore} --noflush failed (exit {code}): {OneLine(error)}{LockHint(code, error)}");
    }

    /// <summary>Throws a <see cref="ControlException"/> for a failed <see cref="Iptables"/> call.</summary>
    public ControlException Failure(string what, (int ExitCode, string Error) result) =>
        new($"{tools.Iptables}: cannot {what} (exit {result.ExitCode}): {OneLine(result.Error)}{LockHint(result.ExitCode, result.Error)}");

    private string LockSeconds => Math.Max(1, (int)Math.Ceiling(tools.LockWait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    // iptables exits 4 (RESOURCE_PROBLEM) when -w gives up on the lock.
    private string LockHint(int code, string error) =>
        code == 4 || error.Contains("xtables lock", StringComparison.OrdinalIgnoreCase)
            ? $" (the xtables lock was held by another process for more than {tools.LockWait.TotalSeconds:0.#} s: look for a stuck iptables, or a tool holding /run/xtables.lock)"
            : "";

    private static string OneLine(string text) => string.Join(" / ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private (int ExitCode, string Error) Run(string binary, string[] args, string? stdin)
    {
        var words = tools.Prefix.Concat([binary]).Concat(args).ToList();
        var psi = new ProcessStartInfo(words[0])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in words.Skip(1))
            psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ControlException($"cannot run {binary} ({e.Message}): --ip-masq and the forward rules need iptables installed; " +
                "or pass --iptables-forward-rules=false without --ip-masq");
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (stdin is not null)
            {
                try
                {
                    p.StandardInput.Write(stdin);
                    p.StandardInput.Close();
                }
                catch (IOException)
                {
                    // It exited before reading everything; its exit code and stderr say why.
                }
            }
            if (!p.WaitForExit(tools.Timeout))
            {
                try
                {
                    p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                throw new ControlException($"{string.Join(' ', words)} did not finish within {tools.Timeout.TotalSeconds:0.#} s and was killed " +
                    $"(a hung iptables, or one waiting on the xtables lock); the node's iptables rules may be incomplete");
            }
            p.WaitForExit();
            _ = stdout.Result;
            return (p.ExitCode, stderr.Result);
        }
    }
}

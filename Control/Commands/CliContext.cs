using Control.Daemon;
using Control.Interfaces;

namespace Control.Commands;

/// <summary>
/// What the verbs need from the outside world, injectable so tests can run the whole CLI in-process with
/// fake interfaces, captured output and their own shutdown signal.
/// </summary>
internal sealed record CliContext
{
    /// <summary>Standard output (help, version, listings).</summary>
    public TextWriter Out { get; init; } = Console.Out;

    /// <summary>Standard error (the one-line failure messages).</summary>
    public TextWriter Error { get; init; } = Console.Error;

    /// <summary>Environment lookup for FLANNELD_* variables.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>Host interfaces (real by default).</summary>
    public IHostInterfaces Host { get; init; } = new SystemHostInterfaces();

    /// <summary>The data path factory: the Linux TUN/UDP data path; tests may substitute the control-only one.</summary>
    public IDataPathFactory DataPaths { get; init; } = new TunDataPath.Factory();

    /// <summary>When set, stops <c>run</c> instead of SIGTERM/SIGINT (tests).</summary>
    public CancellationToken? Shutdown { get; init; }

    /// <summary>Whether daemon logs are written (tests silence them).</summary>
    public bool Logging { get; init; } = true;

    /// <summary>Where daemon logs go: stderr when null (tests may capture them).</summary>
    public TextWriter? LogOutput { get; init; }
}

using System.CommandLine;
using System.Runtime.InteropServices;
using Control.Daemon;
using Microsoft.Extensions.Logging;

namespace Control.Commands;

/// <summary>
/// <c>dataplane run</c>: the daemon. Validates flags, picks the interface, loads the config, acquires the lease,
/// writes subnet.env, starts the data path, then renews and follows peer leases until SIGTERM/SIGINT (exit 0)
/// or until the lease is revoked (flanneld's log line and exit 0, as flanneld).
/// </summary>
internal sealed class RunVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "run";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags => RunFlags.Flags;

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => RunFlags.Unsupported;

    /// <inheritdoc/>
    public bool ReadsEnvironment => true;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "Run the node daemon in flanneld's place (flanneld's flags and FLANNELD_* variables are accepted).");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result => Execute(result, options, context));
        return command;
    }

    private static int Execute(ParseResult result, VerbOptions o, CliContext context)
    {
        RunOptions options;
        try
        {
            options = RunOptionsReader.Read(result, o);
        }
        catch (ControlException e)
        {
            context.Error.WriteLine($"dataplane: {e.Message}");
            return e.ExitCode;
        }
        using var loggers = Logging.Create(options.Verbosity, context.Logging, options.LogFormat, context.LogOutput);
        using var shutdown = new CancellationTokenSource();
        using var registration = context.Shutdown?.Register(shutdown.Cancel);
        using var sigterm = context.Shutdown is null ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal) : null;
        using var sigint = context.Shutdown is null ? PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal) : null;
        try
        {
            return RunAsync(options, context, loggers, shutdown.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            // SIGTERM/SIGINT while still setting up (e.g. waiting for etcd or for its config): nothing was set up
            // to undo, so it is a clean exit, not a crash (an escaped cancellation aborted the process, exit 134).
            loggers.CreateLogger("dataplane").LogInformation("Shutdown requested before setup finished; exiting");
            return 0;
        }
        catch (ControlException e)
        {
            context.Error.WriteLine($"dataplane: {e.Message}");
            return e.ExitCode;
        }

        void OnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true;
            shutdown.Cancel();
        }
    }

    private static async Task<int> RunAsync(RunOptions options, CliContext context, Microsoft.Extensions.Logging.ILoggerFactory loggers, CancellationToken shutdown)
    {
        await using var registry = await Leases.SubnetRegistryFactory.OpenAsync(options, TimeProvider.System, loggers, shutdown).ConfigureAwait(false);
        using var notifier = SystemdNotifier.FromEnvironment(context.Environment);
        var daemon = new NodeDaemon(options, registry, context.Host, context.DataPaths, loggers) { Notifier = notifier };
        return await daemon.RunAsync(shutdown).ConfigureAwait(false);
    }
}

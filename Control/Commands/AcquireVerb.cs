using System.CommandLine;
using Control.Daemon;

namespace Control.Commands;

/// <summary>
/// <c>dataplane acquire</c> (hidden): <c>run</c>'s startup only (interface, config, lease, subnet.env), then it
/// prints the subnet and exits, leaving the lease to expire or be reused. For tests and scripts.
/// </summary>
internal sealed class AcquireVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "acquire";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags => RunFlags.Flags;

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => RunFlags.Unsupported;

    /// <inheritdoc/>
    public bool ReadsEnvironment => true;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "Acquire a lease and write subnet.env as `run` does, print the subnet, and exit.") { Hidden = true };
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var runOptions = RunOptionsReader.Read(result, options);
                using var loggers = Logging.Create(runOptions.Verbosity, context.Logging, runOptions.LogFormat, context.LogOutput);
                var setup = SetupAsync(runOptions, context, loggers).GetAwaiter().GetResult();
                context.Out.WriteLine(setup.Lease.Subnet);
                return ExitCodes.Ok;
            }
            catch (ControlException e)
            {
                context.Error.WriteLine($"dataplane: {e.Message}");
                return e.ExitCode;
            }
        });
        return command;
    }

    private static async Task<NodeSetup> SetupAsync(RunOptions options, CliContext context, Microsoft.Extensions.Logging.ILoggerFactory loggers)
    {
        var cancel = context.Shutdown ?? CancellationToken.None;
        await using var registry = await Leases.SubnetRegistryFactory.OpenAsync(options, TimeProvider.System, loggers, cancel).ConfigureAwait(false);
        return await new NodeDaemon(options, registry, context.Host, context.DataPaths, loggers).SetupAsync(cancel).ConfigureAwait(false);
    }
}

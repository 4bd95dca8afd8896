using System.CommandLine;
using Control.Observe;

namespace Control.Commands;

/// <summary>
/// The client verbs of the control socket (<c>status</c>, <c>routes</c>, <c>drops</c>): each connects to a running
/// daemon's <c>--control-socket</c>. Bad arguments exit 2 naming the problem; no daemon at the socket exits 1.
/// </summary>
internal abstract class ObserveVerb : IVerb
{
    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>One-line help.</summary>
    protected abstract string Description { get; }

    /// <summary>The verb's own flags (besides --control-socket).</summary>
    protected abstract IReadOnlyList<FlagSpec> OwnFlags { get; }

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags =>
    [
        new("control-socket", FlagKind.Value, $"the daemon's control socket (default {ControlServer.DefaultPath})", "PATH"),
        .. OwnFlags,
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, Description);
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var path = options.Value(result, "control-socket") ?? ControlServer.DefaultPath;
                if (path.Length == 0)
                    throw ControlException.Usage($"dataplane {Name}: --control-socket needs a path");
                using var client = ControlClient.Connect(path);
                return ExecuteAsync(client, result, options, context).GetAwaiter().GetResult();
            }
            catch (ControlException e)
            {
                context.Error.WriteLine($"dataplane: {e.Message}");
                return e.ExitCode;
            }
        });
        return command;
    }

    /// <summary>Runs the verb against a connected daemon; returns the exit code.</summary>
    protected abstract Task<int> ExecuteAsync(ControlClient client, ParseResult result, VerbOptions options, CliContext context);

    /// <summary>The answer, or a ControlException with the daemon's error.</summary>
    protected static async Task<ControlResponse> RequestAsync(ControlClient client, string command, CancellationToken ct)
    {
        var response = await client.RequestAsync(command, ct).ConfigureAwait(false);
        if (!response.Ok)
            throw new ControlException($"the daemon refused '{command}': {response.Error}");
        return response;
    }
}

/// <summary>A client verb that sends one request named like itself and prints the answer, as text or with --json.</summary>
internal abstract class OneAnswerVerb : ObserveVerb
{
    /// <inheritdoc/>
    protected override IReadOnlyList<FlagSpec> OwnFlags { get; } = [new("json", FlagKind.Bool, "print the answer as JSON")];

    /// <summary>Prints the daemon's answer.</summary>
    protected abstract void Print(TextWriter output, ControlResponse response, bool json);

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ControlClient client, ParseResult result, VerbOptions options, CliContext context)
    {
        var response = await RequestAsync(client, Name, CancellationToken.None).ConfigureAwait(false);
        Print(context.Out, response, options.Bool(result, "json"));
        return ExitCodes.Ok;
    }
}

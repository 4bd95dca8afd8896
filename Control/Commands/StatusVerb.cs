using System.CommandLine;
using System.Text.Json;
using Control.Observe;

namespace Control.Commands;

/// <summary>
/// <c>dataplane status [--control-socket PATH] [--json]</c>: subnet, backend, I/O mode and offloads in effect, each
/// peer with its counters and last packet seen, drops by reason, uptime.
/// </summary>
internal sealed class StatusVerb : ObserveVerb
{
    /// <inheritdoc/>
    public override string Name => "status";

    /// <inheritdoc/>
    protected override string Description => "Show a running daemon's state: node, data path, peers with their counters, drops.";

    /// <inheritdoc/>
    protected override IReadOnlyList<FlagSpec> OwnFlags { get; } = [new("json", FlagKind.Bool, "print the status as JSON")];

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ControlClient client, ParseResult result, VerbOptions options, CliContext context)
    {
        var response = await RequestAsync(client, "status", CancellationToken.None).ConfigureAwait(false);
        var status = response.Status ?? throw new ControlException("the daemon sent no status");
        if (options.Bool(result, "json"))
            context.Out.WriteLine(JsonSerializer.Serialize(status, ControlJson.Default.StatusReport));
        else
            StatusPrinter.Print(context.Out, status, DateTimeOffset.UtcNow);
        return ExitCodes.Ok;
    }
}

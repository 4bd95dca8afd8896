using System.CommandLine;
using System.Text.Json;
using Control.Observe;

namespace Control.Commands;

/// <summary><c>dataplane routes [--control-socket PATH] [--json]</c>: a running daemon's forwarding table.</summary>
internal sealed class RoutesVerb : ObserveVerb
{
    /// <inheritdoc/>
    public override string Name => "routes";

    /// <inheritdoc/>
    protected override string Description => "Show a running daemon's forwarding table (destination, peer, encapsulation).";

    /// <inheritdoc/>
    protected override IReadOnlyList<FlagSpec> OwnFlags { get; } = [new("json", FlagKind.Bool, "print the table as JSON")];

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ControlClient client, ParseResult result, VerbOptions options, CliContext context)
    {
        var response = await RequestAsync(client, "routes", CancellationToken.None).ConfigureAwait(false);
        var routes = response.Routes ?? [];
        if (options.Bool(result, "json"))
            context.Out.WriteLine(JsonSerializer.Serialize(response, ControlJson.Default.ControlResponse));
        else
            StatusPrinter.PrintRoutes(context.Out, routes);
        return ExitCodes.Ok;
    }
}

using System.Text.Json;
using Control.Observe;

namespace Control.Commands;

/// <summary><c>dataplane routes [--control-socket PATH] [--json]</c>: a running daemon's forwarding table.</summary>
internal sealed class RoutesVerb : OneAnswerVerb
{
    /// <inheritdoc/>
    public override string Name => "routes";

    /// <inheritdoc/>
    protected override string Description => "Show a running daemon's forwarding table (destination, peer, encapsulation).";

    /// <inheritdoc/>
    protected override void Print(TextWriter output, ControlResponse response, bool json)
    {
        if (json)
            output.WriteLine(JsonSerializer.Serialize(response.Routes ?? [], ControlJson.Default.IReadOnlyListRouteEntry));
        else
            StatusPrinter.PrintRoutes(output, response.Routes ?? []);
    }
}

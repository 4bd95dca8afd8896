using System.Text.Json;
using Control.Observe;

namespace Control.Commands;

/// <summary>
/// <c>dataplane status [--control-socket PATH] [--json]</c>: subnet, backend, I/O mode and offloads in effect, each
/// peer with its counters and last packet seen, drops by reason, uptime.
/// </summary>
internal sealed class StatusVerb : OneAnswerVerb
{
    /// <inheritdoc/>
    public override string Name => "status";

    /// <inheritdoc/>
    protected override string Description => "Show a running daemon's state: node, data path, peers with their counters, drops.";

    /// <inheritdoc/>
    protected override void Print(TextWriter output, ControlResponse response, bool json)
    {
        var status = response.Status ?? throw new ControlException("the daemon sent no status");
        if (json)
            output.WriteLine(JsonSerializer.Serialize(status, ControlJson.Default.StatusReport));
        else
            StatusPrinter.Print(output, status, DateTimeOffset.UtcNow);
    }
}

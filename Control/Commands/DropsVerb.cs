using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Control.Observe;

namespace Control.Commands;

/// <summary>
/// <c>dataplane drops [--control-socket PATH] [--follow] [--count N]</c>: drops by reason, or with <c>--follow</c> the
/// dropped packets as they happen (sampled by the daemon at a bounded rate), decoded, with their reason, until Ctrl-C
/// or <c>--count</c> drops.
/// </summary>
internal sealed class DropsVerb : ObserveVerb
{
    /// <inheritdoc/>
    public override string Name => "drops";

    /// <inheritdoc/>
    protected override string Description => "Show drops by reason, or follow dropped packets as they happen (--follow).";

    /// <inheritdoc/>
    protected override IReadOnlyList<FlagSpec> OwnFlags { get; } =
    [
        new("follow", FlagKind.Bool, "print dropped packets as they happen, decoded, with their reason (the daemon samples at most 100 a second)"),
        new("count", FlagKind.Value, "with --follow: exit after N drops (default: until interrupted)", "N"),
    ];

    /// <inheritdoc/>
    protected override async Task<int> ExecuteAsync(ControlClient client, ParseResult result, VerbOptions options, CliContext context)
    {
        bool follow = options.Bool(result, "follow");
        long count = long.MaxValue;
        if (options.Value(result, "count") is { } text)
        {
            if (!follow)
                throw ControlException.Usage("dataplane drops: --count only goes with --follow");
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1)
                throw ControlException.Usage($"dataplane drops: invalid --count '{text}': a positive number");
        }
        if (!follow)
        {
            var status = (await RequestAsync(client, "status", CancellationToken.None).ConfigureAwait(false)).Status;
            var drops = status?.Drops ?? new Dictionary<string, long>();
            context.Out.WriteLine($"{"REASON",-28} COUNT");
            foreach (var (reason, n) in drops.OrderByDescending(kv => kv.Value))
                context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{reason,-28} {n}"));
            if (drops.Count == 0)
                context.Out.WriteLine("(no drops)");
            return ExitCodes.Ok;
        }

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        using var registration = context.Shutdown?.Register(stop.Cancel);
        long shown = 0;
        try
        {
            await RequestAsync(client, "drops", stop.Token).ConfigureAwait(false);
            context.Out.WriteLine("following drops (Ctrl-C to stop)");
            context.Out.Flush();
            while (shown < count && await client.ReadAsync(stop.Token).ConfigureAwait(false) is { } frame)
            {
                if (frame.Drop is not { } drop)
                    continue;
                context.Out.WriteLine(DropDecoder.Describe(drop));
                context.Out.Flush();
                shown++;
            }
        }
        catch (OperationCanceledException)
        {
        }
        return shown < count && !stop.IsCancellationRequested
            ? throw new ControlException("the daemon closed the control connection")
            : ExitCodes.Ok;
    }
}

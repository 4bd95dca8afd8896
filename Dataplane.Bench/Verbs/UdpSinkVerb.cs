using System.CommandLine;
using System.Globalization;
using Dataplane.Tun;

namespace Control.Commands;

/// <summary>
/// <c>Dataplane.Bench udp-sink --listen ADDR:PORT --duration S</c>: the benchmark's UDP receiver
/// (<see cref="UdpSink"/>). Binds in the calling process's network namespace, reads and discards datagrams with
/// recvmmsg until the duration passes or SIGINT/SIGTERM, then prints one JSON line:
/// <c>{"received":…,"bytes":…,"seconds":…}</c>. Reading matters: Udp InDatagrams counts datagrams as they are read.
/// </summary>
internal sealed class UdpSinkVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "udp-sink";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("listen", FlagKind.Value, "IPv4 address (0.0.0.0 for any) and port to bind", "ADDR:PORT"),
        new("duration", FlagKind.Value, $"seconds to receive at most, 1..{UdpBlastVerb.MaxSeconds} (default 60; SIGINT/SIGTERM end it sooner)", "SECONDS"),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "Benchmark UDP receiver: binds, reads and discards datagrams with recvmmsg for a bounded time.");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var listen = UdpBlastVerb.ParseEndpoint(options.Value(result, "listen") ?? throw ControlException.Usage("Dataplane.Bench udp-sink needs --listen ADDR:PORT"), "--listen");
                int seconds = UdpBlastVerb.ParseInt(options.Value(result, "duration")?.TrimEnd('s'), 60, 1, UdpBlastVerb.MaxSeconds, "--duration");
                using var sink = UdpSink.Open(listen);
                using var stop = UdpBlastVerb.Signals(sink.Cancel);
                var r = sink.Drain(TimeSpan.FromSeconds(seconds));
                context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"received\":{r.Datagrams},\"bytes\":{r.Bytes},\"seconds\":{r.Elapsed.TotalSeconds:0.######}}}"));
                return ExitCodes.Ok;
            }
            catch (PlatformException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: udp-sink: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (ControlException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: {e.Message}");
                return e.ExitCode;
            }
        });
        return command;
    }
}

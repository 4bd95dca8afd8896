using System.CommandLine;
using System.Globalization;
using Dataplane.Packets;
using Dataplane.Tun;

namespace Control.Commands;

/// <summary>
/// <c>Dataplane.Bench udp-blast --to ADDR:PORT --size N --duration S [--rate PPS] [--batch N] [--gso]</c>: the
/// benchmark's UDP generator (<see cref="UdpBlaster"/>). Sends one payload to the one address given, from the calling
/// process's network namespace (the bench runs it under <c>ip netns exec</c>), for a bounded time, and prints one JSON
/// line: <c>{"sent":…,"seconds":…,"calls":…,"errors":…,"size":…,"gso":…}</c>.
/// </summary>
internal sealed class UdpBlastVerb : IVerb
{
    /// <summary>Longest allowed run: the verb must always end on its own.</summary>
    internal const int MaxSeconds = 600;

    /// <inheritdoc/>
    public string Name => "udp-blast";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("to", FlagKind.Value, "destination IPv4 address and port (the only address sent to)", "ADDR:PORT"),
        new("size", FlagKind.Value, $"UDP payload bytes per datagram, 1..{UdpBlaster.MaxPayload} (default 64)", "BYTES"),
        new("duration", FlagKind.Value, $"seconds to send, 1..{MaxSeconds} (default 5; a trailing 's' is allowed)", "SECONDS"),
        new("rate", FlagKind.Value, "datagrams per second, 0 = as fast as the kernel accepts (default 0)", "PPS"),
        new("batch", FlagKind.Value, $"messages per sendmmsg call, 1..{UdpBlaster.MaxBatchSize} (default {UdpBlaster.MaxBatchSize})", "N"),
        new("gso", FlagKind.Bool, "UDP GSO (UDP_SEGMENT): each message carries up to 64 datagrams, segmented by the kernel"),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "Benchmark UDP generator: one payload to one address, batched with sendmmsg, for a bounded time.");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var to = ParseEndpoint(options.Value(result, "to") ?? throw ControlException.Usage("Dataplane.Bench udp-blast needs --to ADDR:PORT"), "--to");
                if (to.Port == 0)
                    throw ControlException.Usage("--to needs a port other than 0");
                int size = ParseInt(options.Value(result, "size"), 64, 1, UdpBlaster.MaxPayload, "--size");
                int seconds = ParseInt(options.Value(result, "duration")?.TrimEnd('s'), 5, 1, MaxSeconds, "--duration");
                long rate = ParseInt(options.Value(result, "rate"), 0, 0, int.MaxValue, "--rate");
                int batch = ParseInt(options.Value(result, "batch"), UdpBlaster.MaxBatchSize, 1, UdpBlaster.MaxBatchSize, "--batch");
                bool gso = options.Bool(result, "gso");
                using var blaster = UdpBlaster.Open(to, size, batch, gso);
                using var stop = Signals(blaster.Cancel);
                var r = blaster.Run(TimeSpan.FromSeconds(seconds), rate);
                context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"sent\":{r.Datagrams},\"seconds\":{r.Elapsed.TotalSeconds:0.######},\"calls\":{r.Calls},\"errors\":{r.Errors},\"size\":{size},\"gso\":{(gso ? "true" : "false")},\"segments\":{blaster.SegmentsPerMessage}}}"));
                return ExitCodes.Ok;
            }
            catch (PlatformException e)
            {
                context.Error.WriteLine($"Dataplane.Bench: udp-blast: {e.Message}");
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

    /// <summary>SIGINT/SIGTERM stop the run early (the JSON line is still printed) instead of killing the process.</summary>
    internal static IDisposable Signals(Action stop)
    {
        var registrations = new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM }
            .Select(s => System.Runtime.InteropServices.PosixSignalRegistration.Create(s, c => { c.Cancel = true; stop(); }))
            .ToList();
        return new Registrations(registrations);
    }

    /// <summary>Parses <c>A.B.C.D:PORT</c>; throws a usage error naming <paramref name="flag"/>.</summary>
    internal static UnderlayEndpoint ParseEndpoint(string text, string flag)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0
            || !Ipv4Address.TryParse(text.AsSpan(0, colon), out var address)
            || !ushort.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
            throw ControlException.Usage($"invalid {flag} '{text}': must be IPv4-ADDRESS:PORT, e.g. 10.244.2.2:5301");
        return new UnderlayEndpoint(address, port);
    }

    /// <summary>Parses a whole number in [<paramref name="min"/>, <paramref name="max"/>]; absent gives <paramref name="absent"/>.</summary>
    internal static int ParseInt(string? text, int absent, int min, int max, string flag)
    {
        if (text is null)
            return absent;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw ControlException.Usage($"invalid {flag} '{text}': must be a whole number in {min}..{max}");
        return n;
    }

    private sealed class Registrations(List<System.Runtime.InteropServices.PosixSignalRegistration> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in items)
                r.Dispose();
        }
    }
}

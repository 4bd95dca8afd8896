using System.CommandLine;
using System.Globalization;
using Control.Leases;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Commands;

/// <summary><c>dataplane leases --lease-dir DIR</c>: lists the leases of an embedded store (subnet, PublicIP, backend, expiry).</summary>
internal sealed class LeasesVerb : IVerb
{
    /// <inheritdoc/>
    public string Name => "leases";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("lease-dir", FlagKind.Value, "the embedded lease store to list", "DIR"),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "List the leases of an embedded lease store.");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var dir = options.Value(result, "lease-dir") ?? throw ControlException.Usage("dataplane leases needs --lease-dir DIR");
                if (!Directory.Exists(dir))
                    throw new ControlException($"lease dir {dir} does not exist");
                var registry = DirectorySubnetRegistry.Open(dir, TimeProvider.System, NullLogger.Instance);
                Print(context.Out, registry.List(), DateTimeOffset.UtcNow);
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

    /// <summary>Writes the table.</summary>
    internal static void Print(TextWriter output, LeaseSnapshot snapshot, DateTimeOffset now)
    {
        output.WriteLine($"{"SUBNET",-20} {"PUBLIC-IP",-16} {"BACKEND",-8} EXPIRES");
        foreach (var lease in snapshot.Leases)
        {
            var expires = lease.Expiration is DateTimeOffset e
                ? string.Create(CultureInfo.InvariantCulture, $"{e.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} (in {Math.Max(0, (e - now).TotalSeconds):0}s)")
                : "never (static)";
            var backend = string.IsNullOrEmpty(lease.Attributes.BackendType) ? "udp" : lease.Attributes.BackendType;
            output.WriteLine($"{lease.Subnet,-20} {lease.Attributes.PublicIP,-16} {backend,-8} {expires}");
        }
        foreach (var c in snapshot.Corrupt)
            output.WriteLine($"{c.Key,-20} {"?",-16} {"?",-8} unreadable: {c.Problem}");
    }
}

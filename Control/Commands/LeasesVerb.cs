using System.CommandLine;
using System.Globalization;
using Control.Daemon;
using Control.Leases;
using Microsoft.Extensions.Logging.Abstractions;

namespace Control.Commands;

/// <summary>
/// <c>dataplane leases</c>: lists the leases of the store the daemon would use with the same flags (subnet,
/// PublicIP, backend, expiry): <c>--lease-dir DIR</c>, otherwise etcd with flanneld's <c>--etcd-*</c> flags.
/// </summary>
internal sealed class LeasesVerb : IVerb
{
    /// <summary>How long listing may retry an unreachable etcd before giving up (a call's deadline is 5 s).</summary>
    private static readonly TimeSpan ListTimeout = TimeSpan.FromSeconds(15);

    /// <inheritdoc/>
    public string Name => "leases";

    /// <inheritdoc/>
    public IReadOnlyList<FlagSpec> Flags { get; } =
    [
        new("lease-dir", FlagKind.Value, "the embedded lease store to list (default: etcd, as the daemon)", "DIR"),
        // The run verb's own specs, so names, defaults and help text cannot drift apart.
        .. RunFlags.Flags.Where(f => EtcdOptions.FlagNames.Contains(f.Name)),
    ];

    /// <inheritdoc/>
    public IReadOnlyList<UnsupportedFlag> Unsupported => [];

    /// <inheritdoc/>
    public bool ReadsEnvironment => false;

    /// <inheritdoc/>
    public Command Build(CliContext context)
    {
        var command = new Command(Name, "List the leases of the lease store (--lease-dir, or etcd with the --etcd-* flags).");
        var options = new VerbOptions(command, Flags);
        command.SetAction(result =>
        {
            try
            {
                var dir = options.Value(result, "lease-dir");
                if (dir is not null && EtcdOptions.FlagNames.FirstOrDefault(f => options.Value(result, f) is not null) is { } etcdFlag)
                    throw ControlException.Usage($"contradictory flags: --lease-dir selects the embedded lease store, so --{etcdFlag} cannot be used with it");
                if (dir is "")
                    throw ControlException.Usage("--lease-dir needs a directory");
                if (dir is not null && !Directory.Exists(dir))
                    throw new ControlException($"lease dir {dir} does not exist");
                var etcd = EtcdOptions.FromFlags(name => options.Value(result, name), RunFlags.DefaultEtcdEndpoints, RunFlags.DefaultEtcdPrefix);
                Print(context.Out, List(new RunOptions { LeaseDir = dir, Etcd = etcd }), DateTimeOffset.UtcNow);
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

    /// <summary>
    /// Lists, retrying an unreachable store each second until <see cref="ListTimeout"/>: the first TLS call to an etcd
    /// that refuses our certificate can fail as a torn connection before the cause (the server's alert) is read, and
    /// the next attempt names it. A refusal (<see cref="ControlException"/>) ends it at once.
    /// </summary>
    private static LeaseSnapshot List(RunOptions store)
    {
        using var timeout = new CancellationTokenSource(ListTimeout);
        return Task.Run(async () =>
        {
            await using var registry = await SubnetRegistryFactory.OpenAsync(store, TimeProvider.System, NullLoggerFactory.Instance, timeout.Token).ConfigureAwait(false);
            string last = "timed out";
            while (!timeout.IsCancellationRequested)
            {
                try
                {
                    return await registry.ListAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (SubnetRegistryUnavailableException e)
                {
                    last = e.Message;
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    break;
                }
                await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(1), timeout.Token)).ConfigureAwait(false);
            }
            throw new ControlException($"cannot list the leases within {ListTimeout.TotalSeconds:0} s: {last.ReplaceLineEndings(" ")}");
        }).GetAwaiter().GetResult();
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

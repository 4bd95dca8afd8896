using Control.Daemon;
using Microsoft.Extensions.Logging;

namespace Control.Leases;

/// <summary>
/// Chooses and opens the lease store from the run options, as flanneld does: <c>--lease-dir</c> (ours) selects
/// the embedded directory store, otherwise etcd (flanneld's default store) at <c>--etcd-endpoints</c>.
/// The caller owns (and disposes) the result and injects it into the daemon.
/// </summary>
internal static class SubnetRegistryFactory
{
    /// <summary>Opens the store; throws <see cref="ControlException"/> with one operator line when it is unusable.</summary>
    public static ValueTask<ISubnetRegistry> OpenAsync(RunOptions options, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var logger = loggers.CreateLogger("dataplane.leases");
        if (options.LeaseDir is { } dir)
            return ValueTask.FromResult<ISubnetRegistry>(DirectorySubnetRegistry.Open(dir, time, logger));
        logger.LogInformation("Using the etcd lease store at {Endpoints}, prefix {Prefix}", string.Join(',', options.Etcd.Endpoints), options.Etcd.Prefix);
        return ValueTask.FromResult<ISubnetRegistry>(EtcdSubnetRegistry.Open(options.Etcd, time, logger));
    }
}

using Control.Config;
using Control.Interfaces;
using Control.Leases;
using Control.Routing;
using Control.SubnetEnv;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// One node's control plane, in flanneld's order: pick the external interface, open the lease store, load the
/// network config, acquire the lease, write subnet.env, start the data path, then renew the lease and turn
/// peer lease changes into route batches until shutdown or revocation.
/// Threading: <see cref="RunAsync"/> runs a watch loop and a renew loop; the data path's
/// <see cref="IDataPath.Apply"/> is only ever called from the watch loop.
/// </summary>
internal sealed class NodeDaemon
{
    private readonly RunOptions _options;
    private readonly ISubnetRegistry _registry;
    private readonly IHostInterfaces _host;
    private readonly IDataPathFactory _dataPaths;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>
    /// Creates a daemon over <paramref name="registry"/> (opened by the caller, see <see cref="SubnetRegistryFactory"/>,
    /// and still owned by it); nothing happens until <see cref="SetupAsync"/> or <see cref="RunAsync"/>.
    /// </summary>
    public NodeDaemon(RunOptions options, ISubnetRegistry registry, IHostInterfaces host, IDataPathFactory dataPaths, ILoggerFactory loggers, TimeProvider? time = null)
    {
        _options = options;
        _registry = registry;
        _host = host;
        _dataPaths = dataPaths;
        _loggers = loggers;
        _logger = loggers.CreateLogger("dataplane");
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Everything up to and including writing subnet.env. Throws <see cref="ControlException"/> with one
    /// operator line for every failure.
    /// </summary>
    public async Task<NodeSetup> SetupAsync(CancellationToken cancellationToken)
    {
        var registry = _registry;
        var iface = ExternalInterfaceSelector.Select(_host, _options.Ifaces, _options.IfaceRegexes, _options.PublicIp);
        _logger.LogInformation("Using interface with name {Name} and address {IfaceAddr}", iface.Name, iface.IfaceAddr);
        _logger.LogInformation("Using {ExtAddr} as external address (PublicIP)", iface.ExtAddr);

        var storedConfig = await registry.GetNetworkConfigAsync(cancellationToken).ConfigureAwait(false);
        var config = NetworkConfigLoader.Load(_options.NetConfigPath, storedConfig, registry.ConfigSource);
        _logger.LogInformation("Network config: Network {Network} SubnetLen {Len} range {Min} .. {Max}, backend {Backend} port {Port}",
            config.Network, config.SubnetLen, config.SubnetMin, config.SubnetMax, config.Backend.TypeName, config.Backend.Port);
        int mtu = config.Backend.OverlayMtu(iface.Mtu);
        if (mtu < 68)
            throw new ControlException($"interface {iface.Name} MTU {iface.Mtu} leaves {mtu} bytes for the overlay, below IPv4's minimum of 68");
        SubnetEnvFile.CheckWritable(_options.SubnetFile);

        var previous = SubnetEnvFile.ReadPreviousSubnet(_options.SubnetFile);
        MacAddress? vtepMac = null;
        LeaseAttributes attributes;
        if (config.Backend.Type == BackendType.Vxlan)
        {
            vtepMac = StoredVtepMac(await registry.ListAsync(cancellationToken).ConfigureAwait(false), iface.ExtAddr) ?? MacAddress.NewRandomLocal();
            attributes = LeaseAttributes.ForVxlan(iface.ExtAddr, config.Backend.Vni, vtepMac.Value);
        }
        else
        {
            attributes = LeaseAttributes.ForUdp(iface.ExtAddr);
        }

        var lease = await new LeaseAcquirer(registry, _logger)
            .AcquireAsync(config, attributes, previous, _options.LeaseTtl, cancellationToken).ConfigureAwait(false);
        SubnetEnvFile.Write(_options.SubnetFile, SubnetEnvFile.Render(config, lease.Subnet, mtu, _options.IpMasq));
        _logger.LogInformation("Wrote subnet file {Path}: subnet {Subnet}, MTU {Mtu}", _options.SubnetFile, lease.Subnet, mtu);
        return new NodeSetup(registry, iface, config, lease, mtu, vtepMac);
    }

    /// <summary>
    /// Runs until <paramref name="shutdown"/> fires (returns 0) or the lease is revoked or lost (throws
    /// <see cref="ControlException"/>, after stopping the data path).
    /// </summary>
    public async Task<int> RunAsync(CancellationToken shutdown)
    {
        var setup = await SetupAsync(shutdown).ConfigureAwait(false);
        var dataPath = _dataPaths.Create(setup.Config.Backend, _options);
        var context = new DataPathContext(setup.Interface, setup.Config, setup.Lease, setup.OverlayMtu, setup.VtepMac, _options.Io, _loggers);
        await dataPath.StartAsync(context, shutdown).ConfigureAwait(false);
        _logger.LogInformation("Running with data path {Name}", dataPath.Name);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        var state = new OwnLeaseState(setup.Lease);
        var watch = Task.Run(() => WatchLoopAsync(setup, state, dataPath, stop.Token), CancellationToken.None);
        var renew = Task.Run(() => RenewLoopAsync(setup, state, stop.Token), CancellationToken.None);
        var first = await Task.WhenAny(watch, renew).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(watch, renew).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (ControlException)
        {
        }
        finally
        {
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await dataPath.StopAsync(stopTimeout.Token).ConfigureAwait(false);
        }
        if (first.Exception?.InnerException is ControlException fatal)
            throw fatal;
        if (first.Exception?.InnerException is { } other)
            throw new ControlException($"internal error: {other}");
        _logger.LogInformation("Shutting down");
        return ExitCodes.Ok;
    }

    /// <summary>flannel reuses the VTEP MAC of the lease our PublicIP already holds, so peers' neighbour entries stay valid.</summary>
    private static MacAddress? StoredVtepMac(LeaseSnapshot snapshot, Ipv4Address publicIp) =>
        snapshot.FindByPublicIp(publicIp) is { Attributes.IsVxlan: true } own
        && VxlanBackendData.TryParse(own.Attributes.BackendData, out var data, out _)
            ? data.VtepMac
            : null;

    private async Task WatchLoopAsync(NodeSetup setup, OwnLeaseState state, IDataPath dataPath, CancellationToken ct)
    {
        var own = setup.Lease.Subnet;
        var publicIp = setup.Lease.Attributes.PublicIP;
        var watcher = new LeaseWatcher(own, _loggers.CreateLogger("dataplane.leases"));
        var routes = new RouteController(PeerEncapsulation.For(setup.Config.Backend), dataPath.Apply, _loggers.CreateLogger("dataplane.routes"));
        await foreach (var snapshot in setup.Registry.WatchAsync(ct).ConfigureAwait(false))
        {
            if (snapshot.Corrupt.FirstOrDefault(c => c.Subnet == own) is { } corrupt)
                throw Fatal($"our own lease {corrupt.Key} in {setup.Registry.Description} is corrupt ({corrupt.Problem}). Shutting down daemon.");
            var mine = snapshot.Find(own);
            if (mine is null || mine.Attributes.PublicIP != publicIp)
                throw Fatal($"Lease has been revoked. Shutting down daemon. (subnet {own} is gone from {setup.Registry.Description})");
            state.Observe(mine);
            var events = watcher.Update(snapshot);
            if (events.Count == 0)
                continue;
            foreach (var e in events)
                _logger.LogInformation("Lease {Kind}: {Subnet} {PublicIP} {Backend}", e.Kind, e.Lease.Subnet, e.Lease.Attributes.PublicIP, e.Lease.Attributes.BackendType ?? "udp");
            routes.Apply(events);
        }
        // A store's watch only ends when cancelled; ending otherwise must not look like a clean shutdown (exit 0).
        if (!ct.IsCancellationRequested)
            throw Fatal($"the lease watch of {setup.Registry.Description} ended unexpectedly. Shutting down daemon.");
    }

    private async Task RenewLoopAsync(NodeSetup setup, OwnLeaseState state, CancellationToken ct)
    {
        var subnet = setup.Lease.Subnet;
        var owner = setup.Lease.Attributes.PublicIP;
        var ttl = _options.LeaseTtl;
        DateTimeOffset? retryAt = null;
        int failures = 0;
        while (!ct.IsCancellationRequested)
        {
            if (state.Expiration is not DateTimeOffset expiration)
            {
                // Static lease: nothing to renew until the watch loop reports it dynamic again.
                await state.WaitForChangeAsync(TimeSpan.FromMinutes(1), _time, ct).ConfigureAwait(false);
                continue;
            }
            var at = retryAt ?? RenewalSchedule.RenewAt(expiration, ttl, _options.RenewMargin);
            var wait = at - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                // Sleep until the renewal is due, or until the watch loop reports a different expiry (an operator
                // edit): no periodic wake-ups, which on an idle node cost more CPU than everything else together.
                await state.WaitForChangeAsync(wait, _time, ct).ConfigureAwait(false);
                continue;
            }
            RenewResult result;
            try
            {
                result = await setup.Registry.RenewAsync(subnet, owner, ttl, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Back-off 1 s, 2 s, 4 s ... capped at flannel's retry interval (RenewalSchedule.RetryDelay); the
                // first failure is an error line, the retries are debug lines, so an outage does not flood the log.
                var delay = RenewalSchedule.BackOff(failures++, ttl);
                if (failures == 1)
                    _logger.LogError("Error renewing lease (retrying with back-off, next in {Delay}): {Error}", delay, e.Message);
                else
                    _logger.LogDebug("Renewal attempt {Attempt} failed (next in {Delay}): {Error}", failures, delay, e.Message);
                retryAt = _time.GetUtcNow() + delay;
                continue;
            }
            if (failures > 0)
                _logger.LogInformation("Renewal succeeded after {Failures} failed attempts", failures);
            failures = 0;
            retryAt = null;
            switch (result.Outcome)
            {
                case RenewOutcome.Renewed:
                    state.Renewed(result.Expiration!.Value);
                    _logger.LogInformation("Lease renewed, new expiration: {Expiration:O}", result.Expiration);
                    break;
                case RenewOutcome.Static:
                    state.Renewed(null);
                    _logger.LogInformation("Lease {Subnet} became a static reservation; no more renewals", subnet);
                    break;
                case RenewOutcome.Corrupt:
                    throw Fatal($"our own lease {SubnetKey.Format(subnet)} in {setup.Registry.Description} is corrupt ({result.Problem}). Shutting down daemon.");
                default:
                    throw Fatal($"Lease has been revoked. Shutting down daemon. (subnet {subnet} is gone from {setup.Registry.Description})");
            }
        }
    }

    private ControlException Fatal(string message)
    {
        _logger.LogError("{Message}", message);
        return new ControlException(message);
    }

    /// <summary>Our lease's expiry, shared by the watch loop (observes the store) and the renew loop (writes it).</summary>
    private sealed class OwnLeaseState(Lease lease)
    {
        private readonly Lock _gate = new();
        private readonly SemaphoreSlim _changed = new(0, 1);
        private DateTimeOffset? _expiration = lease.Expiration;

        /// <summary>Waits until the expiry changes or <paramref name="timeout"/> passes (cancellation throws).</summary>
        public async Task WaitForChangeAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
        {
            using var timer = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, ct);
            try
            {
                await _changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
            }
        }

        private void Signal()
        {
            if (_changed.CurrentCount == 0)
            {
                try
                {
                    _changed.Release();
                }
                catch (SemaphoreFullException)
                {
                }
            }
        }

        public DateTimeOffset? Expiration
        {
            get
            {
                lock (_gate)
                    return _expiration;
            }
        }

        /// <summary>Takes the store's view, but never moves the expiry backwards (a snapshot may predate a renewal).</summary>
        public void Observe(Lease current)
        {
            lock (_gate)
            {
                if ((current.Expiration is null || _expiration is null || current.Expiration > _expiration) && current.Expiration != _expiration)
                {
                    _expiration = current.Expiration;
                    Signal();
                }
            }
        }

        public void Renewed(DateTimeOffset? expiration)
        {
            lock (_gate)
                _expiration = expiration;
        }
    }
}

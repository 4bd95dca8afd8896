using Control.Config;
using Control.Interfaces;
using Control.Leases;
using Control.Masquerade;
using Control.Routing;
using Control.SubnetEnv;
using Dataplane.Packets;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// One node's control plane, in flanneld's order: take the per-namespace instance lock, pick the external interface,
/// open the lease store, load the network config, acquire the lease, start the data path, write subnet.env (once the
/// device is up, as flanneld), then renew the lease and turn peer lease changes into route batches until shutdown or
/// revocation.
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

    /// <summary>systemd's <c>NOTIFY_SOCKET</c> (READY=1 once ready, STOPPING=1 on stop); null when not under systemd.</summary>
    public SystemdNotifier? Notifier { get; init; }

    /// <summary>
    /// Everything up to and including writing subnet.env (the one-shot <c>acquire</c>). Throws
    /// <see cref="ControlException"/> with one operator line for every failure.
    /// </summary>
    public async Task<NodeSetup> SetupAsync(CancellationToken cancellationToken)
    {
        var setup = await PrepareAsync(cancellationToken).ConfigureAwait(false);
        WriteSubnetFile(setup);
        return setup;
    }

    /// <summary>
    /// Interface, store, config and lease: everything before the data path starts. subnet.env is not written here:
    /// flanneld writes it once the device is up (the CNI plugin reads it as "this node is ready"), so
    /// <see cref="RunAsync"/> writes it after <see cref="IDataPath.StartAsync"/> succeeds.
    /// </summary>
    public async Task<NodeSetup> PrepareAsync(CancellationToken cancellationToken)
    {
        var registry = _registry;
        var iface = ExternalInterfaceSelector.Select(_host, _options.Ifaces, _options.IfaceRegexes, _options.PublicIp);
        _logger.LogInformation("Using interface with name {Name} and address {IfaceAddr}", iface.Name, iface.IfaceAddr);
        _logger.LogInformation("Using {ExtAddr} as external address (PublicIP)", iface.ExtAddr);

        var storedConfig = await registry.GetNetworkConfigAsync(cancellationToken).ConfigureAwait(false);
        var config = NetworkConfigLoader.Load(_options.NetConfigPath, storedConfig, registry.ConfigSource,
            warning => _logger.LogWarning("{Warning}", warning));
        _logger.LogInformation("Network config: Network {Network} SubnetLen {Len} range {Min} .. {Max}, backend {Backend} port {Port}",
            config.Network, config.SubnetLen, config.SubnetMin, config.SubnetMax, config.Backend.TypeName, config.Backend.Port);
        int mtu = config.Backend.OverlayMtu(iface.Mtu);
        if (mtu < 68)
            throw new ControlException($"interface {iface.Name} MTU {iface.Mtu} leaves {mtu} bytes for the overlay, below IPv4's minimum of 68");
        SubnetEnvFile.CheckWritable(_options.SubnetFile);

        var previous = SubnetEnvFile.ReadPreviousSubnet(_options.SubnetFile);
        MacAddress? vtepMac = null;
        LeaseAttributes attributes;
        // What our lease said before this start: after a backend change, peers keep sending in the old format until they
        // see the new lease (per-peer encapsulation keeps that format's socket open meanwhile, SecondaryBackend).
        var stored = await registry.ListAsync(cancellationToken).ConfigureAwait(false);
        string? previousType = stored.FindByPublicIp(iface.ExtAddr) is { } ownBefore ? ownBefore.Attributes.BackendType ?? "" : null;
        if (config.Backend.Type == BackendType.Vxlan)
        {
            vtepMac = StoredVtepMac(stored, iface.ExtAddr) ?? MacAddress.NewRandomLocal();
            attributes = LeaseAttributes.ForVxlan(iface.ExtAddr, config.Backend.Vni, vtepMac.Value);
        }
        else if (config.Backend.Type == BackendType.HostGw)
        {
            // pkg/backend/hostgw/hostgw.go New(): peers route to our PublicIP as a next hop on their link, so it must be
            // the interface's own address.
            if (iface.ExtAddr != iface.IfaceAddr)
                throw new ControlException($"your PublicIP ({iface.ExtAddr}) differs from interface IP ({iface.IfaceAddr}), meaning that probably you're on a NAT, which is not supported by host-gw backend");
            attributes = LeaseAttributes.ForHostGw(iface.ExtAddr);
        }
        else
        {
            attributes = LeaseAttributes.ForUdp(iface.ExtAddr);
        }

        var lease = await new LeaseAcquirer(registry, _logger)
            .AcquireAsync(config, attributes, previous, _options.LeaseTtl, cancellationToken).ConfigureAwait(false);
        return new NodeSetup(registry, iface, config, lease, mtu, vtepMac) { PreviousBackendType = previousType };
    }

    private void WriteSubnetFile(NodeSetup setup)
    {
        SubnetEnvFile.Write(_options.SubnetFile, SubnetEnvFile.Render(setup.Config, setup.Lease.Subnet, setup.OverlayMtu, _options.IpMasq));
        _logger.LogInformation("Wrote subnet file {Path}: subnet {Subnet}, MTU {Mtu}", _options.SubnetFile, setup.Lease.Subnet, setup.OverlayMtu);
    }

    /// <summary>
    /// Runs until <paramref name="shutdown"/> fires (returns 0) or the lease is revoked or lost (throws
    /// <see cref="ControlException"/>, after stopping the data path).
    /// </summary>
    public async Task<int> RunAsync(CancellationToken shutdown)
    {
        // First of all, before the store, the lease or subnet.env: a second daemon in this network namespace must
        // fail here, leaving everything the running one owns untouched. --unsafe-control-only daemons (tests that
        // run several "nodes" side by side in one namespace, with no kernel state) are exempt.
        using var instance = _options.ControlOnly ? null : InstanceLock.Acquire();
        // flanneld serves /healthz from the start (also while it waits for its config); /readyz turns 200 once ready.
        // What /metrics and the control socket see, published piece by piece as the run gets there.
        var info = new Observe.DaemonInfo();
        using var health = _options.HealthzPort > 0
            ? HealthServer.Start(_options.HealthzIp, _options.HealthzPort, _logger, () => Metrics(info))
            : null;
        using var control = _options.ControlOnly && _options.ControlSocket is null ? null
            : Observe.ControlServer.Start(_options.ControlSocket, info, _loggers.CreateLogger("dataplane.control"));
        // What the previous run wrote, read before we overwrite it (flanneld: ReadCIDRFromSubnetFile).
        var previousNetwork = SubnetEnvFile.ReadPreviousNetwork(_options.SubnetFile);
        var previousSubnet = SubnetEnvFile.ReadPreviousSubnet(_options.SubnetFile);
        var setup = await PrepareAsync(shutdown).ConfigureAwait(false);
        // iptables belong to the control plane, as flanneld's trafficmngr: the data path is created with its iptables
        // flags off, so however it is implemented it cannot install (or remove on stop) rules the daemon manages.
        var dataPath = _dataPaths.Create(setup.Config.Backend, _options with { IpMasq = false, ForwardRules = false });
        var context = new DataPathContext(setup.Interface, setup.Config, setup.Lease, setup.OverlayMtu, setup.VtepMac, _options.Io, _loggers)
        {
            PreviousBackendType = setup.PreviousBackendType,
        };
        info.Setup = setup;
        await dataPath.StartAsync(context, shutdown).ConfigureAwait(false);
        info.DataPath = dataPath;
        // flanneld's order once the device is up: iptables rules, then subnet.env.
        FlannelIptables? iptables = null;
        try
        {
            iptables = StartIptables(setup, previousNetwork, previousSubnet);
            WriteSubnetFile(setup);
        }
        catch (ControlException)
        {
            iptables?.Dispose();
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await dataPath.StopAsync(stopTimeout.Token).ConfigureAwait(false);
            throw;
        }
        using var keepRules = iptables; // Dispose stops the resync; the rules stay (see FlannelIptables)
        // Logged once the node is ready (device up, subnet.env written): tests and operators wait for this line.
        _logger.LogInformation("Running with data path {Name}", dataPath.Name);
        Notifier?.Notify("READY=1");
        if (health is not null)
            health.Ready = true;
        info.Ready = true;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        var state = new OwnLeaseState(setup.Lease, _time);
        info.LeaseExpiration = () => state.Expiration;
        var watch = Task.Run(() => WatchLoopAsync(setup, state, dataPath, stop.Token), CancellationToken.None);
        var renew = Task.Run(() => RenewLoopAsync(setup, state, stop.Token), CancellationToken.None);
        var first = await Task.WhenAny(watch, renew).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(watch, renew).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Whatever ended the loops (cancellation, a fatal ControlException, a bug) is examined below through `first`;
            // the stop below runs in every case, so every exit leaves the same state (README, "what survives").
        }
        finally
        {
            Notifier?.Notify("STOPPING=1");
            if (health is not null)
                health.Ready = false;
            info.Ready = false;
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await dataPath.StopAsync(stopTimeout.Token).ConfigureAwait(false);
        }
        if (first.Exception?.InnerException is ControlException fatal)
            throw fatal;
        if (first.Exception?.InnerException is { } other)
        {
            // A bug: the stack goes to the log, the operator gets one line and exit 1.
            _logger.LogCritical(other, "internal error in the lease loops");
            throw new ControlException($"internal error: {other.GetType().Name}: {other.Message.ReplaceLineEndings(" ")}");
        }
        _logger.LogInformation("Shutting down");
        return ExitCodes.Ok;
    }

    /// <summary>flanneld's masquerade and forward rules, kept in place by a resync; null when neither is wanted.</summary>
    private FlannelIptables? StartIptables(NodeSetup setup, Ipv4Prefix? previousNetwork, Ipv4Prefix? previousSubnet)
    {
        // --unsafe-control-only daemons run side by side in the test runner's namespace: never touch its tables.
        if (_options.ControlOnly || (!_options.IpMasq && !_options.ForwardRules))
            return null;
        var iptables = new FlannelIptables(_loggers.CreateLogger("dataplane.iptables"), IptablesTools.Default);
        iptables.Start(setup.Config.Network, setup.Lease.Subnet, _options.ForwardRules, _options.IpMasq, _options.IpMasqRandomFully,
            _options.IptablesResync, previousNetwork, previousSubnet);
        const string ipForward = "/proc/sys/net/ipv4/ip_forward";
        if (File.Exists(ipForward) && File.ReadAllText(ipForward).Trim() == "0")
            _logger.LogWarning("net.ipv4.ip_forward is 0: this node will not forward pod traffic to or from the overlay (sysctl -w net.ipv4.ip_forward=1)");
        return iptables;
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
        var policy = new PeerLeasePolicy(setup.Config.Network, own, [publicIp, setup.Interface.IfaceAddr, setup.Interface.ExtAddr]);
        var watcher = new LeaseWatcher(own, _loggers.CreateLogger("dataplane.leases"), policy);
        var routes = new RouteController(PeerEncapsulation.For(setup.Config.Backend), dataPath.Apply, _loggers.CreateLogger("dataplane.routes"));
        await foreach (var snapshot in setup.Registry.WatchAsync(ct).ConfigureAwait(false))
        {
            if (snapshot.Corrupt.FirstOrDefault(c => c.Subnet == own) is { } corrupt)
                throw Fatal($"our own lease {corrupt.Key} in {setup.Registry.Description} is corrupt ({corrupt.Problem}). Shutting down daemon.");
            var mine = snapshot.Find(own);
            if (mine is null && await ReclaimOrUndecidedAsync(setup, state, ct).ConfigureAwait(false))
                continue; // the store's next snapshot has our lease again; keep the routes we have until then
            if (mine is null || mine.Attributes.PublicIP != publicIp)
                throw Revoked($"Lease has been revoked. Shutting down daemon. (subnet {own} is gone from {setup.Registry.Description})");
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
                // edit), but at most WallClockCheck: the sleep runs on the monotonic clock, and a forward wall-clock
                // jump past the expiry must be noticed (and the lease re-published, ReclaimAfterClockJumpAsync) within
                // seconds, not when the monotonic timer fires. One wake-up every few seconds costs nothing measurable.
                await state.WaitForChangeAsync(wait < WallClockCheck ? wait : WallClockCheck, _time, ct).ConfigureAwait(false);
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
                    bool reclaimed;
                    try
                    {
                        reclaimed = await ReclaimAfterClockJumpAsync(setup, state, ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // The store said "gone" and then could not be asked again (an etcd member lost mid-renewal):
                        // undecided, so retried like a failed renewal rather than ending the daemon on a guess (it
                        // was an unhandled "internal error in the lease loops").
                        var delay = RenewalSchedule.BackOff(failures++, ttl);
                        _logger.LogWarning("Could not confirm lease {Subnet} after a renewal found it missing (retrying in {Delay}): {Error}", subnet, delay, e.Message);
                        retryAt = _time.GetUtcNow() + delay;
                        break;
                    }
                    if (reclaimed)
                        break;
                    throw Revoked($"Lease has been revoked. Shutting down daemon. (subnet {subnet} is gone from {setup.Registry.Description})");
            }
        }
    }

    /// <summary>
    /// Called when our lease is missing from the store or a renewal found it gone. If that is only because the wall
    /// clock jumped forward (NTP step, VM resume, an operator's <c>date -s</c>), re-publishes the lease and returns
    /// true; otherwise returns false and the caller treats it as a revocation.
    /// </summary>
    /// <remarks>
    /// <para>Why: the lease store keeps absolute wall-clock expiries (as etcd's clients see them), and every daemon on
    /// a machine shares one wall clock. A forward jump larger than the time left on the leases (between the renew
    /// margin and the TTL) makes every lease look expired at the same instant: today every daemon read that as "Lease
    /// has been revoked" and exited at once. flanneld does not: its etcd lease TTLs run on the server, and its renew
    /// timer counts monotonic time (Go timers), so a node's wall-clock jump never expires its lease.</para>
    /// <para>Rule: it is a clock jump, not a revocation, when the wall clock has run ahead of the monotonic clock by
    /// more than <see cref="ClockJumpTolerance"/> since our last renewal, and by the monotonic clock our lease still
    /// has time left. Then we take the subnet back with a create-if-absent (<see cref="ISubnetRegistry.TryCreateAsync"/>:
    /// it cannot overwrite a live lease that another node took meanwhile) with our published attributes and a new
    /// TTL. Limits: a lease an operator deletes during the same second as a jump is re-published; peers' routes may
    /// flap for up to a renew-loop period (1 s) while each peer daemon re-publishes its own lease.</para>
    /// <para>Both loops call this; the gate makes the second caller see the first one's result (the lease is back
    /// under our PublicIP) instead of failing the create.</para>
    /// </remarks>
    private async Task<bool> ReclaimAfterClockJumpAsync(NodeSetup setup, OwnLeaseState state, CancellationToken ct)
    {
        await _reclaimGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var subnet = setup.Lease.Subnet;
            var current = (await setup.Registry.ListAsync(ct).ConfigureAwait(false)).Find(subnet);
            if (current is not null)
                return current.Attributes.PublicIP == setup.Lease.Attributes.PublicIP;
            var drift = state.WallClockDrift();
            var left = state.MonotonicTimeLeft();
            if (drift < ClockJumpTolerance || left is not { } remaining || remaining <= TimeSpan.Zero)
                return false;
            var expiration = await setup.Registry.TryCreateAsync(subnet, setup.Lease.Attributes, _options.LeaseTtl, ct).ConfigureAwait(false);
            if (expiration is null)
                return false;
            state.Renewed(expiration);
            _logger.LogWarning("The wall clock jumped forward by {Drift} (more than the {Left} our lease {Subnet} had left), so the lease looked expired; " +
                "re-published it (new expiration {Expiration:O}) instead of exiting", drift, remaining, subnet, expiration);
            return true;
        }
        finally
        {
            _reclaimGate.Release();
        }
    }

    /// <summary>
    /// The watch loop's <see cref="ReclaimAfterClockJumpAsync"/>: when the store cannot be asked (an outage right after
    /// a snapshot without our lease), the answer is "undecided" (true: keep the routes, wait for the next snapshot),
    /// not an unhandled error that ends the daemon.
    /// </summary>
    private async Task<bool> ReclaimOrUndecidedAsync(NodeSetup setup, OwnLeaseState state, CancellationToken ct)
    {
        try
        {
            return await ReclaimAfterClockJumpAsync(setup, state, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Our lease {Subnet} is missing from a snapshot and the store cannot be asked again ({Error}); waiting for the next snapshot", setup.Lease.Subnet, e.Message);
            return true;
        }
    }

    /// <summary>Longest the renew loop sleeps without looking at the wall clock.</summary>
    private static readonly TimeSpan WallClockCheck = TimeSpan.FromSeconds(2);

    /// <summary>Wall-vs-monotonic drift below this is clock slewing, not a jump.</summary>
    internal static TimeSpan ClockJumpTolerance { get; } = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _reclaimGate = new(1, 1);

    private static string Metrics(Observe.DaemonInfo info)
    {
        var text = new System.Text.StringBuilder();
        Observe.MetricsText.Write(text, info);
        (info.DataPath as IDataPathMetrics)?.WriteMetrics(text);
        return text.ToString();
    }

    private ControlException Revoked(string message)
    {
        _logger.LogError("{Message}", message);
        return ControlException.Revoked(message);
    }

    private ControlException Fatal(string message)
    {
        _logger.LogError("{Message}", message);
        return new ControlException(message);
    }

    /// <summary>
    /// Our lease's expiry, shared by the watch loop (observes the store) and the renew loop (writes it), and the
    /// same expiry counted on the monotonic clock, which wall-clock jumps do not move.
    /// </summary>
    private sealed class OwnLeaseState
    {
        private readonly Lock _gate = new();
        private readonly TimeProvider _time;
        // Released when the expiry changes, so the renew loop sleeps until it is due or the store says otherwise.
        private readonly SemaphoreSlim _changed = new(0, 1);
        private DateTimeOffset? _expiration;
        // Wall and monotonic readings taken together at the last renewal (or start): their divergence since then is
        // the wall clock's jump; the expiry minus the wall reading is the lease's real time left at that moment.
        private DateTimeOffset _wallBase;
        private long _monoBase;

        public OwnLeaseState(Lease lease, TimeProvider time)
        {
            _time = time;
            _expiration = lease.Expiration;
            Rebase();
        }

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
                    Rebase();
                    Signal();
                }
            }
        }

        public void Renewed(DateTimeOffset? expiration)
        {
            lock (_gate)
            {
                _expiration = expiration;
                Rebase();
            }
        }

        /// <summary>How far the wall clock has run ahead of the monotonic clock since the last renewal.</summary>
        public TimeSpan WallClockDrift()
        {
            lock (_gate)
                return _time.GetUtcNow() - _wallBase - _time.GetElapsedTime(_monoBase);
        }

        /// <summary>Time our lease has left by the monotonic clock; null for a static lease.</summary>
        public TimeSpan? MonotonicTimeLeft()
        {
            lock (_gate)
                return _expiration is { } e ? e - _wallBase - _time.GetElapsedTime(_monoBase) : null;
        }

        private void Rebase()
        {
            _wallBase = _time.GetUtcNow();
            _monoBase = _time.GetTimestamp();
        }
    }
}

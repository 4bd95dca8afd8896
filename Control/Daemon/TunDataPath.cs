using Control.Config;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tun;
using Dataplane.Tun.Netlink;
using Microsoft.Extensions.Logging;

namespace Control.Daemon;

/// <summary>
/// The Linux data path of <c>dataplane run</c> for the udp backend, per-packet I/O: flannel's udp backend
/// (reference/flannel.md §1.6, checklist 6–9) done in-process.
/// </summary>
/// <remarks>
/// <para>Setup, in this order: TUN <c>flannel%d</c> (<c>IFF_TUN|IFF_NO_PI</c>), MTU = FLANNEL_MTU (external − 28),
/// address <c>&lt;subnet&gt;.0/32</c>, link up, route <c>Network dev flannel0</c>; a guard route
/// <c>unreachable Network metric 1000</c>; the UDP socket bound to IfaceAddr:Port (source port = Port, as flannel);
/// the forwarding table and the pump threads (<see cref="DataplaneEngine"/>).</para>
/// <para>Restart safety: the guard route stays in place when the daemon exits (cleanly or not). While the TUN exists
/// its metric-0 route wins; when the TUN is gone (daemon stopped, crashed or restarting: a TUN that vanishes takes
/// its route with it) the guard answers pod traffic for Network with "network unreachable" instead of letting it
/// leave through the default route unencapsulated. <c>dataplane run --guard-route=false</c> turns it off.</para>
/// <para>Watchdog: a netlink monitor thread restores the Network route if someone deletes it, and exits the daemon
/// loudly (status 1) if the TUN itself is deleted, so a supervisor restarts it; the guard covers the gap.</para>
/// <para>Threading: <see cref="Apply"/> runs on the daemon's watch loop (single writer of the table and peer set);
/// the pumps read both lock-free.</para>
/// </remarks>
internal sealed class TunDataPath : IDataPath
{
    /// <summary>Metric of the guard route: above the TUN route's 0, so it only matters when that one is gone.</summary>
    public const uint GuardMetric = 1000;

    /// <summary>flannel0's transmit queue (kernel → our reader); the kernel default is 500.</summary>
    public const int TunTxQueueLength = 4000;

    private readonly bool _guardRoute;
    private readonly bool _checkPeers;
    private readonly ForwardingTable _table = new();
    private readonly DropCounters _drops = new();
    private PeerFilter _peers = new();
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private RtNetlink? _rtnl;
    private LinuxTunDevice? _tun;
    private UdpUnderlay? _udp;
    private DataplaneEngine? _engine;
    private NetlinkMonitor? _monitor;
    private Thread? _watchdog;
    private RouteInfo? _tunRoute;
    private volatile bool _stopping;

    public TunDataPath(bool guardRoute = true, bool checkPeers = true)
    {
        _guardRoute = guardRoute;
        _checkPeers = checkPeers;
    }

    /// <inheritdoc/>
    public string Name => "udp, per-packet I/O";

    /// <summary>The forwarding table (diagnostics and tests).</summary>
    public ForwardingTable Table => _table;

    /// <summary>Drops by reason.</summary>
    public DropCounters Drops => _drops;

    /// <inheritdoc/>
    public Task StartAsync(DataPathContext context, CancellationToken cancellationToken)
    {
        _logger = context.Loggers.CreateLogger("dataplane.datapath");
        var config = context.Config;
        if (config.Backend.Type != BackendType.Udp)
            throw new ControlException($"backend {config.Backend.TypeName} is not supported by the data path yet (udp only)");
        var network = config.Network;
        try
        {
            _rtnl = new RtNetlink();
            _tun = LinuxTunDevice.Open(new TunOptions(), _drops);
            var link = _rtnl.GetLink(_tun.Name);
            _rtnl.SetMtu(link.Index, context.OverlayMtu);
            // Measured in the lab: with the default 500 the kernel dropped ~1 in 50 TCP segments queued for us
            // during bursts (flannel0 TX dropped == iperf3 retransmits); 4000 absorbed them with no drops.
            _rtnl.SetTxQueueLength(link.Index, TunTxQueueLength);
            _rtnl.AddAddress(link.Index, context.Lease.Subnet.Address, 32);
            _rtnl.SetLinkUp(link.Index);
            _tunRoute = new RouteInfo { Destination = network, LinkIndex = link.Index };
            _rtnl.ReplaceRoute(_tunRoute);
            if (_guardRoute)
                _rtnl.ReplaceRoute(new RouteInfo { Destination = network, Type = RouteType.Unreachable, Metric = GuardMetric });
            _logger.LogInformation("TUN {Tun}: address {Address}/32, MTU {Mtu}, route {Network} dev {Tun}{Guard}",
                _tun.Name, context.Lease.Subnet.Address, context.OverlayMtu, network, _tun.Name,
                _guardRoute ? $", guard route unreachable {network} metric {GuardMetric}" : "");

            var local = new UnderlayEndpoint(context.Interface.IfaceAddr, config.Backend.Port);
            _udp = UdpUnderlay.Open(new UdpUnderlayOptions
            {
                LocalEndpoint = local,
                // flannel's Go socket never sets IP_MTU_DISCOVER: the kernel default (IP_PMTUDISC_WANT) puts DF on
                // every datagram that fits the route MTU, which all of ours do (TUN MTU = external − 28).
                DontFragment = DontFragmentPolicy.KernelDefault,
                ReceiveBufferSize = 4 << 20,
                SendBufferSize = 4 << 20,
            }, _drops);
            _logger.LogInformation("UDP socket bound to {Local} (flannel udp wire format: raw IPv4 in UDP)", local);

            _peers = new PeerFilter { Enabled = _checkPeers };
            var binding = new UnderlayBinding(new FlannelUdpEncapsulation(context.OverlayMtu), _udp);
            _engine = new DataplaneEngine(_tun, [binding], _table, _peers, _drops, OnStranger);
            _engine.Faulted += ex => Fatal($"data path thread failed: {ex}");
            _engine.Start();
            StartWatchdog(link.Index);
        }
        catch (PlatformException e)
        {
            Dispose();
            throw new ControlException(e.Message);
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Apply(ReadOnlySpan<RouteUpdate> batch)
    {
        _table.Apply(batch);
        var peers = new HashSet<Ipv4Address>();
        foreach (var (_, hop) in _table.GetRoutes())
            peers.Add(hop.Endpoint.Address);
        _peers.Replace(peers);
        foreach (var u in batch)
            _logger.LogInformation("route {Kind} {Destination} via {Endpoint} ({Encapsulation})",
                u.Kind == RouteUpdateKind.Upsert ? "add" : "del", u.Destination, u.NextHop.Endpoint, u.NextHop.Encapsulation);
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        var started = DateTime.UtcNow;
        bool joined = _engine?.Stop(TimeSpan.FromSeconds(1.5)) ?? true;
        if (_engine is not null)
        {
            _logger.LogInformation("Data path stopped in {Ms} ms{Joined}: sent {Sent} packets, delivered {Delivered}, ICMP errors {Icmp}, drops: {Drops}",
                (int)(DateTime.UtcNow - started).TotalMilliseconds, joined ? "" : " (a pump thread did not stop in time)",
                _engine.Outbound.Sent.Packets, _engine.Inbound.Sum(p => p.Delivered.Packets), _engine.Outbound.IcmpSent,
                _drops.Total == 0 ? "none" : _drops.ToString());
        }
        Dispose();
        return Task.CompletedTask;
    }

    private void Dispose()
    {
        _monitor?.Dispose();
        _tun?.Dispose(); // non-persistent: the kernel deletes flannel0 and, with it, its address and route
        _udp?.Dispose();
        _rtnl?.Dispose();
        _monitor = null;
        _tun = null;
        _udp = null;
        _rtnl = null;
    }

    /// <summary>
    /// Picks the data path: <see cref="TunDataPath"/> for the udp backend, the control-only
    /// <see cref="LoggingDataPath"/> with --unsafe-control-only (tests that must not touch the kernel).
    /// </summary>
    internal sealed class Factory : IDataPathFactory
    {
        /// <inheritdoc/>
        public IDataPath Create(BackendConfig backend, RunOptions options)
        {
            if (options.ControlOnly)
                return new LoggingDataPath();
            return backend.Type == BackendType.Udp
                ? new TunDataPath(options.GuardRoute, checkPeers: !options.AcceptUnknownPeers)
                : throw new ControlException($"backend {backend.TypeName} has no data path yet: only udp is implemented (the vxlan data path is the next issue)");
        }
    }

    private void OnStranger(UnderlayEndpoint source) =>
        _logger.LogWarning("Dropping datagrams from {Source}: no lease holds that address (counted as UnknownSource). " +
            "If a peer sends from an address other than its PublicIP, run with --accept-unknown-peers.", source);

    private void StartWatchdog(int tunIndex)
    {
        _monitor = new NetlinkMonitor();
        var monitor = _monitor;
        _watchdog = new Thread(() =>
        {
            var changes = new List<NetlinkChange>();
            try
            {
                while (monitor.Read(changes))
                {
                    foreach (var c in changes)
                        React(c, tunIndex);
                    changes.Clear();
                }
            }
            catch (ObjectDisposedException)
            {
            }
        })
        { Name = "dp-watchdog", IsBackground = true };
        _watchdog.Start();
    }

    private void React(NetlinkChange change, int tunIndex)
    {
        if (_stopping)
            return;
        if (change.Kind == NetlinkChangeKind.LinkDeleted && change.Link?.Index == tunIndex)
        {
            Fatal($"TUN {_tun?.Name} was deleted under the running daemon; exiting so the supervisor restarts it" +
                (_guardRoute ? " (the guard route keeps pod traffic from leaking meanwhile)" : ""));
        }
        else if ((change.Kind == NetlinkChangeKind.RouteDeleted && change.Route is { } r && r.Destination == _tunRoute?.Destination && r.LinkIndex == tunIndex)
                 || change.Kind == NetlinkChangeKind.Overrun)
        {
            try
            {
                if (_rtnl is { } rtnl && _tunRoute is { } route && !rtnl.ListRoutes().Any(x => x.Destination == route.Destination && x.LinkIndex == tunIndex))
                {
                    rtnl.ReplaceRoute(route);
                    _logger.LogWarning("Route {Network} dev {Tun} was deleted; restored it", route.Destination, _tun?.Name);
                }
            }
            catch (PlatformException e)
            {
                Fatal($"cannot restore route {_tunRoute?.Destination} dev {_tun?.Name}: {e.Message}");
            }
        }
    }

    private void Fatal(string message)
    {
        if (_stopping)
            return;
        _logger.LogCritical("{Message}", message);
        Console.Error.WriteLine($"dataplane: {message}");
        Environment.Exit(ExitCodes.Failure);
    }
}

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
/// The Linux data path of <c>dataplane run</c>, per-packet I/O: flannel's udp backend (reference/flannel.md §1.6,
/// checklist 6–9) done in-process, or a userspace VTEP that speaks the kernel's VXLAN (§2, checklist 10–13).
/// </summary>
/// <remarks>
/// <para>Setup, in this order: the UDP socket bound to IfaceAddr:Port (source port = Port, as flannel; first, so a port
/// in use fails before any kernel state changes); TUN <c>flannel%d</c> (<c>IFF_TUN|IFF_NO_PI</c>), MTU = FLANNEL_MTU
/// (external − 28), address <c>&lt;subnet&gt;.0/32</c>, link up, route <c>Network dev flannel0</c>; a guard route
/// <c>unreachable Network metric 1000</c>; the forwarding table and the pump threads (<see cref="DataplaneEngine"/>).</para>
/// <para>Restart safety: the guard route stays in place when the daemon exits (cleanly or not). While the TUN exists
/// its metric-0 route wins; when the TUN is gone (daemon stopped, crashed or restarting: a TUN that vanishes takes
/// its route with it) the guard fails pod traffic for Network at once (an unreachable route makes sendto return
/// EHOSTUNREACH, "No route to host", and forwarded packets get ICMP host-unreachable) instead of letting it leave
/// through the default route unencapsulated. <c>dataplane run --no-guard-route</c> turns it off.</para>
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
    private VxlanArpResponder? _arp;

    private readonly bool _ipMasq;
    private readonly bool _forwardRules;
    private Masquerade.FlannelIptables? _iptables;

    private readonly IoMode _io;
    private DevicePoller? _poller;

    public TunDataPath(bool guardRoute = true, bool checkPeers = true, bool ipMasq = false, bool forwardRules = false, IoMode io = IoMode.PerPacket)
    {
        _io = io;
        _guardRoute = guardRoute;
        _checkPeers = checkPeers;
        _ipMasq = ipMasq;
        _forwardRules = forwardRules;
    }

    private string _name = "per-packet I/O";

    /// <inheritdoc/>
    public string Name => _name;

    /// <summary>The forwarding table (diagnostics and tests).</summary>
    public ForwardingTable Table => _table;

    /// <summary>Drops by reason.</summary>
    public DropCounters Drops => _drops;

    /// <inheritdoc/>
    public Task StartAsync(DataPathContext context, CancellationToken cancellationToken)
    {
        _logger = context.Loggers.CreateLogger("dataplane.datapath");
        var config = context.Config;
        bool vxlan = config.Backend.Type == BackendType.Vxlan;
        _name = $"{config.Backend.TypeName}, per-packet I/O{(_io == IoMode.PerPacketThreads ? ", a thread per direction" : ", one thread")}";
        var network = config.Network;
        try
        {
            // The socket first: a port held by another flanneld or dataplane on this node must fail the start before we
            // touch the kernel's routes. Otherwise our "replace Network dev flannel1" takes over the running daemon's
            // route and then vanishes with our TUN, black-holing every pod on the node; the running daemon's watchdog
            // never hears of it (a replace is an RTM_NEWROUTE, and IPv4 sends no RTM_DELROUTE for routes flushed with
            // a deleted link). Found by EndToEnd/ErrorPathTests.Port_in_use_by_a_running_daemon_leaves_that_daemon_intact.
            var local = new UnderlayEndpoint(context.Interface.IfaceAddr, config.Backend.Port);
            _udp = UdpUnderlay.Open(new UdpUnderlayOptions
            {
                LocalEndpoint = local,
                // udp: flannel's Go socket never sets IP_MTU_DISCOVER, so the kernel default (IP_PMTUDISC_WANT) puts DF
                // on every datagram that fits the route MTU, which all of ours do (TUN MTU = external − 28).
                // vxlan: the kernel VXLAN device sends DF clear (df = 0 unless IFLA_VXLAN_DF), so we clear it too.
                DontFragment = vxlan ? DontFragmentPolicy.Clear : DontFragmentPolicy.KernelDefault,
                ReceiveBufferSize = 4 << 20,
                SendBufferSize = 4 << 20,
            }, _drops);
            IEncapsulation encapsulation;
            VxlanArpResponder? arp = null;
            if (vxlan)
            {
                var mac = context.VtepMac ?? throw new ControlException("vxlan backend without a VTEP MAC");
                var vx = new VxlanEncapsulation(config.Backend.Vni, mac, context.OverlayMtu);
                encapsulation = vx;
                arp = new VxlanArpResponder(vx, context.Lease.Subnet);
                _arp = arp;
                _logger.LogInformation("UDP socket bound to {Local} (VXLAN VNI {Vni}, VTEP MAC {Mac}, as the kernel's flannel.1)", local, config.Backend.Vni, mac);
            }
            else
            {
                encapsulation = new FlannelUdpEncapsulation(context.OverlayMtu);
                _logger.LogInformation("UDP socket bound to {Local} (flannel udp wire format: raw IPv4 in UDP)", local);
            }

            _rtnl = new RtNetlink();
            // vxlan: a TUN named like flanneld's kernel device (flannel.<VNI>), not a TAP. Peers address us at the IP
            // level only (their permanent neighbour entry maps our .0 to our VTEP MAC), so the inner Ethernet header
            // is pure framing we add and strip; a TAP would make our own kernel ARP for every peer and need neighbour
            // entries on our side too, for nothing.
            _tun = LinuxTunDevice.Open(new TunOptions { Name = vxlan ? $"flannel.{config.Backend.Vni}" : "flannel%d" }, _drops);
            var link = _rtnl.GetLink(_tun.Name);
            _rtnl.SetMtu(link.Index, context.OverlayMtu);
            // Measured in the lab: with the default 500 the kernel dropped ~1 in 50 TCP segments queued for us
            // during bursts (flannel0 TX dropped == iperf3 retransmits); 4000 absorbed them with no drops.
            _rtnl.SetTxQueueLength(link.Index, TunTxQueueLength);
            _rtnl.AddAddress(link.Index, context.Lease.Subnet.Address, 32);
            DisableIpv6(_tun.Name);
            _rtnl.SetLinkUp(link.Index);
            _tunRoute = new RouteInfo { Destination = network, LinkIndex = link.Index };
            _rtnl.ReplaceRoute(_tunRoute);
            if (_guardRoute)
                _rtnl.ReplaceRoute(new RouteInfo { Destination = network, Type = RouteType.Unreachable, Metric = GuardMetric });
            _logger.LogInformation("TUN {Tun}: address {Address}/32, MTU {Mtu}, route {Network} dev {Tun}{Guard}",
                _tun.Name, context.Lease.Subnet.Address, context.OverlayMtu, network, _tun.Name,
                _guardRoute ? $", guard route unreachable {network} metric {GuardMetric}" : "");

            InstallIptables(network, context.Lease.Subnet);

            _peers = new PeerFilter { Enabled = _checkPeers };
            var binding = new UnderlayBinding(encapsulation, _udp);
            _poller = _io == IoMode.PerPacket ? new DevicePoller(_tun, _udp) : null;
            _engine = new DataplaneEngine(_tun, [binding], _table, _peers, _drops, OnStranger, arp: arp, arpReplyPort: config.Backend.Port,
                singleThread: _poller);
            _engine.Faulted += ex => Fatal($"data path thread failed: {ex}");
            _engine.Start();
            StartWatchdog(link.Index);
        }
        catch (PlatformException e)
        {
            Dispose();
            throw new ControlException(e.Message);
        }
        catch (ControlException)
        {
            Dispose();
            throw;
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
            _logger.LogInformation("Data path stopped in {Ms} ms{Joined}: sent {Sent} packets, delivered {Delivered}, ICMP errors {Icmp}, ARP replies {Arp}, drops: {Drops}",
                (int)(DateTime.UtcNow - started).TotalMilliseconds, joined ? "" : " (a pump thread did not stop in time)",
                _engine.Outbound.Sent.Packets, _engine.Inbound.Sum(p => p.Delivered.Packets), _engine.Outbound.IcmpSent,
                _arp?.Answered ?? 0, _drops.Total == 0 ? "none" : _drops.ToString());
        }
        Dispose();
        return Task.CompletedTask;
    }

    /// <summary>
    /// The overlay device carries IPv4 only (as flannel's udp backend and our IPv4 forwarding table); without this the
    /// kernel sends router solicitations and MLD reports into it, which we would read and drop.
    /// </summary>
    private void DisableIpv6(string device)
    {
        var path = $"/proc/sys/net/ipv6/conf/{device}/disable_ipv6";
        try
        {
            if (File.Exists(path))
                File.WriteAllText(path, "1");
        }
        catch (IOException e)
        {
            _logger.LogDebug("cannot disable IPv6 on {Device}: {Error}", device, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            _logger.LogDebug("cannot disable IPv6 on {Device}: {Error}", device, e.Message);
        }
    }

    private void InstallIptables(Ipv4Prefix network, Ipv4Prefix podSubnet)
    {
        if (!_ipMasq && !_forwardRules)
            return;
        _iptables = new Masquerade.FlannelIptables(_logger);
        if (_forwardRules)
            _iptables.InstallForward(network);
        if (_ipMasq)
            _iptables.InstallMasquerade(network, podSubnet);
        if (File.Exists("/proc/sys/net/ipv4/ip_forward") && File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim() == "0")
            _logger.LogWarning("net.ipv4.ip_forward is 0: this node will not forward pod traffic to or from the overlay (sysctl -w net.ipv4.ip_forward=1)");
    }

    private void Dispose()
    {
        _iptables?.Remove();
        _iptables = null;
        _monitor?.Dispose();
        _poller?.Dispose();
        _poller = null;
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
            return new TunDataPath(options.GuardRoute, checkPeers: !options.AcceptUnknownPeers, options.IpMasq, options.ForwardRules, options.Io);
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
                 // `ip route replace Network dev X` takes our route over with an RTM_NEWROUTE and no RTM_DELROUTE.
                 || (change.Kind == NetlinkChangeKind.RouteAdded && change.Route is { } added && added.Destination == _tunRoute?.Destination
                     && added.Type == RouteType.Unicast && added.LinkIndex != tunIndex && (added.Metric ?? 0) == (_tunRoute?.Metric ?? 0))
                 || change.Kind == NetlinkChangeKind.Overrun)
        {
            try
            {
                if (_rtnl is { } rtnl && _tunRoute is { } route && !rtnl.ListRoutes().Any(x => x.Destination == route.Destination && x.LinkIndex == tunIndex))
                {
                    rtnl.ReplaceRoute(route);
                    _logger.LogWarning("Route {Network} dev {Tun} was deleted or replaced; restored it", route.Destination, _tun?.Name);
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

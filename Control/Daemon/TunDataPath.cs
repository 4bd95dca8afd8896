using Control.Config;
using Dataplane.Devices;
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
/// The Linux data path of <c>dataplane run</c>: flannel's udp backend (reference/flannel.md §1.6, checklist 6–9) done
/// in-process, or a userspace VTEP that speaks the kernel's VXLAN (§2, checklist 10–13); batched with offloads by
/// default, or one packet per system call (<c>--io per-packet</c>, the flannel-equivalent baseline).
/// </summary>
/// <remarks>
/// <para>This class wires the parts, each of which has its own home: the UDP socket (<see cref="UdpUnderlay"/>, opened
/// here, first, so a port in use fails before any kernel state changes); the TUN with its address and routes
/// (<see cref="OverlayDevice"/>); the pumps (<see cref="DataplaneEngine"/>); the route watchdog
/// (<see cref="RouteWatchdog"/>). flanneld's iptables chains belong to the daemon (<see cref="NodeDaemon"/>,
/// <see cref="Masquerade.FlannelIptables"/>), as flanneld's trafficmngr, not to any data path.</para>
/// <para>Restart safety: the guard route stays in place when the daemon exits (cleanly or not). While the TUN exists
/// its metric-0 route wins; when the TUN is gone (daemon stopped, crashed or restarting: a TUN that vanishes takes
/// its route with it) the guard fails pod traffic for Network at once (an unreachable route makes sendto return
/// EHOSTUNREACH, "No route to host", and forwarded packets get ICMP host-unreachable) instead of letting it leave
/// through the default route unencapsulated. <c>dataplane run --no-guard-route</c> turns it off.</para>
/// <para>Threading: <see cref="Apply"/> runs on the daemon's watch loop (single writer of the table and peer set);
/// the pumps read both lock-free.</para>
/// </remarks>
internal sealed class TunDataPath : IDataPath, IDataPathMetrics, Observe.IObservableDataPath
{
    /// <summary>TUN reads per batch with TSO: 16 super-packets of up to ~45 segments fill a sendmmsg vector.</summary>
    public const int TunBatchWithOffloads = 16;

    /// <summary>Packets per batch call without TSO (plain TUN reads until empty; sendmmsg/recvmmsg vectors).</summary>
    public const int Batch = 64;

    private readonly bool _guardRoute;
    private readonly bool _checkPeers;
    private readonly ForwardingTable _table = new();
    private readonly DropCounters _drops = new();
    private readonly PeerTraffic _traffic = new();
    private long _tableGeneration;
    private PeerFilter _peers = new();
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private OverlayDevice? _device;
    private UdpUnderlay? _udp;
    private DataplaneEngine? _engine;
    private RouteWatchdog? _watchdog;
    private volatile bool _stopping;
    private VxlanArpResponder? _arp;
    private Backends.DirectPeerRoutes? _direct;
    private Backends.SecondaryBackend? _secondary;

    private readonly IoMode _io;
    private readonly OffloadOptions _offloads;
    private DevicePoller? _poller;

    public TunDataPath(bool guardRoute = true, bool checkPeers = true, IoMode io = IoMode.Batch, OffloadOptions? offloads = null)
    {
        _io = io;
        _offloads = offloads ?? OffloadOptions.All;
        _guardRoute = guardRoute;
        _checkPeers = checkPeers;
    }

    private string _name = "per-packet I/O";

    /// <inheritdoc/>
    public string Name => _name;

    /// <summary>The forwarding table (diagnostics and tests).</summary>
    public ForwardingTable Table => _table;

    /// <summary>Drops by reason.</summary>
    public DropCounters Drops => _drops;

    /// <inheritdoc/>
    public PeerTraffic Traffic => _traffic;

    /// <inheritdoc/>
    public long TableGeneration => Volatile.Read(ref _tableGeneration);

    /// <inheritdoc/>
    public long IcmpErrorsSent => _engine?.Outbound.IcmpSent ?? 0;

    /// <inheritdoc/>
    public string Io => _io switch
    {
        IoMode.Batch => "batch",
        IoMode.BatchThreads => "batch-threads",
        IoMode.PerPacket => "per-packet",
        _ => "per-packet-threads",
    };

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, bool> Offloads
    {
        get
        {
            var tun = _device?.Tun.Offloads ?? TunOffloads.None;
            return new Dictionary<string, bool>
            {
                ["tun_tso"] = (tun & TunOffloads.Tso4) != 0,
                ["tun_uso"] = (tun & TunOffloads.Uso4) != 0,
                ["udp_gso"] = _udp?.SegmentationOffload ?? false,
                ["udp_gro"] = _udp?.ReceiveOffload ?? false,
                ["mmsg"] = (_udp?.BatchSize ?? 1) > 1,
            };
        }
    }

    private bool Batched => _io is IoMode.Batch or IoMode.BatchThreads;

    /// <inheritdoc/>
    public Task StartAsync(DataPathContext context, CancellationToken cancellationToken)
    {
        _logger = context.Loggers.CreateLogger("dataplane.datapath");
        var config = context.Config;
        bool vxlan = config.Backend.Type == BackendType.Vxlan;
        var network = config.Network;
        try
        {
            // The socket first: a port held by another flanneld or dataplane on this node must fail the start before we
            // touch the kernel's routes. Otherwise our "replace Network dev flannel1" takes over the running daemon's
            // route and then vanishes with our TUN, black-holing every pod on the node; the running daemon's watchdog
            // never hears of it (a replace is an RTM_NEWROUTE, and IPv4 sends no RTM_DELROUTE for routes flushed with
            // a deleted link). Shown by EndToEnd/ErrorPathTests.A_second_daemon_in_the_same_namespace_fails_naming_the_first_and_leaves_it_intact
            // (the per-namespace instance lock now refuses such a daemon even earlier; a port held by something else
            // still fails here).
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
                BatchSize = Batched && _offloads.Mmsg ? Batch : 1,
                SegmentationOffload = Batched && _offloads.UdpGso,
                ReceiveOffload = Batched && _offloads.UdpGro && _offloads.Mmsg,
            });
            _peers = new PeerFilter { Enabled = _checkPeers, LocalSubnet = context.Lease.Subnet, Routes = _table, Traffic = _traffic };
            var tso = Batched && _offloads.TunTso;
            // With a TSO TUN an inner super-packet (a tunnel-GSO peer's) can be written as one GSO packet: accept it
            // past decapsulation; the inbound pump writes it or drops it as TooBig.
            int maxReceive = tso ? 65535 - (vxlan ? VxlanEncapsulation.WireOverhead : FlannelUdpEncapsulation.WireOverhead) : context.OverlayMtu;
            IEncapsulation encapsulation;
            VxlanArpResponder? arp = null;
            if (vxlan)
            {
                var mac = context.VtepMac ?? throw new ControlException("vxlan backend without a VTEP MAC");
                var vx = new VxlanEncapsulation(config.Backend.Vni, mac, context.OverlayMtu) { MaxReceiveLength = maxReceive };
                encapsulation = vx;
                arp = new VxlanArpResponder(vx, context.Lease.Subnet, _peers.IsPeersAddress);
                _arp = arp;
                _logger.LogInformation("UDP socket bound to {Local} (VXLAN VNI {Vni}, VTEP MAC {Mac}, as the kernel's flannel.1)", local, config.Backend.Vni, mac);
            }
            else
            {
                encapsulation = new FlannelUdpEncapsulation(context.OverlayMtu) { MaxReceiveLength = maxReceive };
                _logger.LogInformation("UDP socket bound to {Local} (flannel udp wire format: raw IPv4 in UDP)", local);
            }

            // vxlan: a TUN named like flanneld's kernel device (flannel.<VNI>), not a TAP. Peers address us at the IP
            // level only (their permanent neighbour entry maps our .0 to our VTEP MAC), so the inner Ethernet header
            // is pure framing we add and strip; a TAP would make our own kernel ARP for every peer and need neighbour
            // entries on our side too, for nothing.
            var offloads = !tso ? TunOffloads.None
                : TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6 | (_offloads.TunUso ? TunOffloads.Uso4 | TunOffloads.Uso6 : TunOffloads.None);
            _device = OverlayDevice.Create(new TunOptions
            {
                Name = vxlan ? $"flannel.{config.Backend.Vni}" : "flannel%d",
                Offloads = offloads,
                BatchSize = !Batched || !_offloads.Mmsg ? 1 : tso ? TunBatchWithOffloads : Batch,
            }, network, context.Lease.Subnet.Address, context.OverlayMtu, _guardRoute, _logger);
            var tun = _device.Tun;
            _name = Batched
                ? $"{config.Backend.TypeName}, batch I/O ({(_io == IoMode.BatchThreads ? "a thread per direction" : "one thread")}; TUN offloads {(tun.Offloads == TunOffloads.None ? "none" : tun.Offloads.ToString())}, UDP GSO {(_udp.SegmentationOffload ? "on" : "off")}, UDP GRO {(_udp.ReceiveOffload ? "on" : "off")}, batches of {tun.BatchSize} TUN reads / {_udp.BatchSize} datagrams)"
                : $"{config.Backend.TypeName}, per-packet I/O{(_io == IoMode.PerPacketThreads ? ", a thread per direction" : ", one thread")}";

            var binding = new UnderlayBinding(encapsulation, _udp);
            _poller = _io is IoMode.PerPacket or IoMode.Batch ? new DevicePoller(tun, _udp) : null;
            _secondary = Backends.SecondaryBackends.Create(context, _udp, tun, _table, _checkPeers, _traffic, _drops, OnStranger, SetTunMtu, _logger, Fatal);
            if (context.PreviousBackendType is { } before && before == (vxlan ? "" : "vxlan"))
                _secondary.HoldOpenAfterBackendChange(TimeSpan.FromSeconds(10)); // peers see a new lease within ~1 s (one watch event)
            _engine = new DataplaneEngine(tun, [binding], _table, _peers, _drops, OnStranger, arp: arp, arpReplyPort: config.Backend.Port,
                singleThread: _poller, peerTraffic: _traffic, sendOnly: [_secondary.SendBinding]);
            _engine.Faulted += ex =>
            {
                _logger.LogCritical(ex, "data path thread failed");
                Fatal($"data path thread failed: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            };
            _engine.Start();
            _watchdog = new RouteWatchdog(_device, _guardRoute, Fatal, _logger);
            _direct = new Backends.DirectPeerRoutes(context.Interface.Name, vxlan && config.Backend.DirectRouting, _logger, Fatal);
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
        _secondary?.BeforeApply(batch);
        // Each route carries its peer's counter slot, so the outbound pump counts per peer with no second lookup.
        var withSlots = batch.ToArray();
        for (int i = 0; i < withSlots.Length; i++)
        {
            if (withSlots[i].Kind == RouteUpdateKind.Upsert)
                withSlots[i] = withSlots[i] with { NextHop = withSlots[i].NextHop with { CounterSlot = _traffic.SlotFor(withSlots[i].NextHop.Endpoint.Address) } };
        }
        _table.Apply(withSlots);
        Interlocked.Increment(ref _tableGeneration);
        _direct?.Apply(batch);
        _secondary?.AfterApply(_table);
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
        _watchdog?.Stop();
        var started = DateTime.UtcNow;
        bool joined = _engine?.Stop(TimeSpan.FromSeconds(1.5)) ?? true;
        if (_engine is not null)
        {
            long reads = _engine.Outbound.Read.Packets, sent = _engine.Outbound.Sent.Packets;
            _logger.LogInformation("Data path stopped in {Ms} ms{Joined}: sent {Sent} packets, delivered {Delivered}, ICMP errors {Icmp}, ARP replies {Arp}, drops: {Drops}; read {Reads} packets from the TUN{PerRead}, received {Received} datagrams, GSO fallbacks {Fallbacks}",
                (int)(DateTime.UtcNow - started).TotalMilliseconds, joined ? "" : " (a pump thread did not stop in time)",
                sent, _engine.Inbound.Sum(p => p.Delivered.Packets) + (_secondary?.Written.Delivered ?? 0), _engine.Outbound.IcmpSent, _arp?.Answered ?? 0,
                _drops.Total == 0 ? "none" : _drops.ToString(),
                reads, reads > 0 && sent > reads ? $" ({(double)sent / reads:F1} datagrams sent per read)" : "",
                _engine.Inbound.Sum(p => p.Received.Packets) + (_secondary?.Received.Packets ?? 0), _udp?.GsoFallbacks ?? 0);
        }
        Dispose();
        return Task.CompletedTask;
    }

    private void Dispose()
    {
        _watchdog?.Dispose();
        _watchdog = null;
        _direct?.Dispose(); // the direct routes stay in the kernel, as flanneld leaves them
        _direct = null;
        _secondary?.Dispose();
        _secondary = null;
        _poller?.Dispose();
        _poller = null;
        _device?.Dispose(); // non-persistent: the kernel deletes the TUN and, with it, its address and route
        _device = null;
        _udp?.Dispose();
        _udp = null;
    }

    /// <inheritdoc/>
    public void WriteMetrics(System.Text.StringBuilder text)
    {
        var engine = _engine;
        if (engine is null)
            return;
        static void Counter(System.Text.StringBuilder t, string name, string help, long value)
        {
            t.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            t.Append("# TYPE ").Append(name).Append(" counter\n");
            t.Append(name).Append(' ').Append(value).Append('\n');
        }
        Counter(text, "dataplane_tun_read_packets_total", "Packets read from the TUN (a super-packet counts one).", engine.Outbound.Read.Packets);
        Counter(text, "dataplane_tun_read_bytes_total", "Bytes read from the TUN.", engine.Outbound.Read.Bytes);
        Counter(text, "dataplane_sent_datagrams_total", "Datagrams sent to peers (each segment counts one).", engine.Outbound.Sent.Packets);
        Counter(text, "dataplane_sent_bytes_total", "UDP payload bytes sent to peers.", engine.Outbound.Sent.Bytes);
        // The other format's socket (per-peer encapsulation) counts in every total.
        var (secondaryReceived, secondaryBytes) = _secondary?.Received ?? default;
        var (secondaryWritten, secondaryMerged) = _secondary?.Written ?? default;
        Counter(text, "dataplane_received_datagrams_total", "Datagrams received from the underlay.", engine.Inbound.Sum(p => p.Received.Packets) + secondaryReceived);
        Counter(text, "dataplane_received_bytes_total", "UDP payload bytes received from the underlay.", engine.Inbound.Sum(p => p.Received.Bytes) + secondaryBytes);
        Counter(text, "dataplane_tun_written_packets_total", "Packets written to the TUN (a coalesced super-packet counts one).", engine.Inbound.Sum(p => p.Delivered.Packets) + secondaryWritten);
        Counter(text, "dataplane_gro_merged_segments_total", "Segments merged into super-packets before the TUN write.", engine.Inbound.Sum(p => p.GroMerged) + secondaryMerged);
        Counter(text, "dataplane_icmp_errors_sent_total", "ICMP errors written back into the TUN.", engine.Outbound.IcmpSent);
        Counter(text, "dataplane_gso_fallbacks_total", "Times the kernel refused UDP GSO and the socket fell back.", _udp?.GsoFallbacks ?? 0);
        // Every reason, zeros included: a series that appears only at its first drop breaks rate() and alerts on it.
        text.Append("# HELP dataplane_dropped_packets_total Packets dropped, by reason.\n# TYPE dataplane_dropped_packets_total counter\n");
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            if (reason != DropReason.None)
                text.Append("dataplane_dropped_packets_total{reason=\"").Append(reason).Append("\"} ").Append(_drops[reason]).Append('\n');
        }
        var offloads = _device?.Tun.Offloads ?? TunOffloads.None;
        text.Append("# HELP dataplane_offload_enabled Offloads in effect (1) or not (0).\n# TYPE dataplane_offload_enabled gauge\n");
        void Offload(string name, bool on) => text.Append("dataplane_offload_enabled{offload=\"").Append(name).Append("\"} ").Append(on ? 1 : 0).Append('\n');
        Offload("tun_tso", (offloads & TunOffloads.Tso4) != 0);
        Offload("tun_uso", (offloads & TunOffloads.Uso4) != 0);
        Offload("udp_gso", _udp?.SegmentationOffload ?? false);
        Offload("udp_gro", _udp?.ReceiveOffload ?? false);
        Offload("mmsg", (_udp?.BatchSize ?? 1) > 1);
    }

    /// <summary>
    /// Picks the data path: <see cref="TunDataPath"/>, or the control-only <see cref="LoggingDataPath"/> with
    /// --unsafe-control-only (tests that must not touch the kernel).
    /// </summary>
    internal sealed class Factory : IDataPathFactory
    {
        /// <inheritdoc/>
        public IDataPath Create(BackendConfig backend, RunOptions options)
        {
            if (options.ControlOnly)
                return new LoggingDataPath();
            if (backend.Type == BackendType.HostGw)
                return new Backends.HostGwDataPath();
            return new TunDataPath(options.GuardRoute, checkPeers: !options.AcceptUnknownPeers, options.Io, options.Offloads);
        }
    }

    private void SetTunMtu(int mtu)
    {
        if (_device is { } device)
            device.Rtnl.SetMtu(device.LinkIndex, mtu);
    }

    private void OnStranger(UnderlayEndpoint source) =>
        _logger.LogWarning("Dropping datagrams from {Source}: no lease holds that address (counted as UnknownSource). " +
            "If a peer sends from an address other than its PublicIP, run with --accept-unknown-peers.", source);

    /// <summary>
    /// A fatal condition on a pump or watchdog thread: one line, exit 1, no clean-up on purpose. The process exit closes
    /// the TUN (the kernel deletes it with its address and route) and leaves the guard route, iptables chains, lease and
    /// subnet.env as they are: exactly what a clean stop and a SIGKILL leave (README, "what survives").
    /// </summary>
    private void Fatal(string message)
    {
        if (!_stopping)
            FatalExit.Exit(_logger, message);
    }
}

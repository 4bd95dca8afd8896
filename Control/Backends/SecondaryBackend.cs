using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Packets;
using Dataplane.Pipeline;
using Dataplane.Tun;
using Microsoft.Extensions.Logging;

namespace Control.Backends;

/// <summary>
/// Per-peer encapsulation (beyond flanneld): the other of our two wire formats, served to the peers whose lease names it,
/// so a cluster can move between udp and vxlan node by node. A vxlan node sends flannel-udp to udp peers from a socket on
/// 8285 and receives their flannel-udp there; a udp node does the same with VXLAN on 8472. The socket is open only while
/// at least one such peer exists.
/// </summary>
/// <remarks>
/// <para>Why the receiver's format: each node sends in the format its peer's lease names, so a node of ours receives its
/// own format from our nodes on its main socket, whatever their backend, and the other format only from real flanneld
/// udp nodes (flanneld's udp backend sends raw IP to every lease's PublicIP:8285, whatever its type). Hence the per-port
/// stranger check: this socket accepts only the PublicIPs of leases of its kind; the main socket keeps accepting every
/// leased peer.</para>
/// <para>Threading: <see cref="BeforeApply"/>/<see cref="AfterApply"/>/<see cref="Dispose"/> run on the daemon's watch
/// loop (the data path's Apply), the end of a hold (<see cref="HoldOpenAfterBackendChange"/>) on a timer; one lock
/// serialises opening and closing. The outbound pump sends through <see cref="SendBinding"/> from its own thread; the
/// socket's receive side runs an <see cref="InboundPump"/> on a thread of its own (the single-thread engine's poller
/// waits on the TUN and the main socket only), writing to the shared TUN as the engine's inbound pump does (one write
/// per packet). Closing detaches the socket from the sender first and waits until no send is inside it, then cancels
/// and joins the receive thread, then closes the socket.</para>
/// <para>MTU: pods keep the MTU of the backend they started under until they restart, so while this format is in use the
/// TUN accepts the larger of the two MTUs (udp: external − 28 over vxlan's − 50); a packet that does not fit the
/// format of the peer it goes to gets ICMP fragmentation-needed (the outbound pump's path MTU discovery).</para>
/// </remarks>
internal sealed class SecondaryBackend : IDisposable
{
    private readonly EncapsulationKind _kind;
    private readonly IEncapsulation _encapsulation;
    private readonly UdpUnderlayOptions _socket;
    private readonly ITunDevice _tun;
    private readonly PeerFilter _peers;
    private readonly DropCounters _drops;
    private readonly Action<UnderlayEndpoint> _onStranger;
    private readonly ILogger _logger;
    private readonly Action<string> _fatal;
    private readonly int _ownMtu;
    private readonly int _mtu;
    private readonly Action<int> _setTunMtu;
    private readonly SwitchingUnderlay _send;
    private UdpUnderlay? _udp;
    private Thread? _receiver;
    private string? _openFailure;
    private volatile bool _closing;
    private long _holdUntil;
    private readonly Lock _gate = new();
    private HashSet<Ipv4Address> _ofKind = [];
    private Timer? _holdTimer;
    private bool _disposed;

    /// <summary>Creates the (closed) secondary backend of <paramref name="kind"/>.</summary>
    public SecondaryBackend(EncapsulationKind kind, IEncapsulation encapsulation, UdpUnderlayOptions socket, ITunDevice tun, PeerFilter peers,
        DropCounters drops, Action<UnderlayEndpoint> onStranger, int ownMtu, int mtu, Action<int> setTunMtu, ILogger logger, Action<string> fatal)
    {
        _kind = kind;
        _encapsulation = encapsulation;
        _socket = socket;
        _tun = tun;
        _peers = peers;
        _drops = drops;
        _onStranger = onStranger;
        _ownMtu = ownMtu;
        _mtu = mtu;
        _setTunMtu = setTunMtu;
        _logger = logger;
        _fatal = fatal;
        _send = new SwitchingUnderlay(socket.BatchSize);
        SendBinding = new UnderlayBinding(encapsulation, _send);
    }

    /// <summary>The outbound pump's binding for this format (sends are counted as NoRoute drops while it is closed).</summary>
    public UnderlayBinding SendBinding { get; }

    /// <summary>True while the socket is open.</summary>
    public bool IsOpen => _udp is not null;

    /// <summary>The socket's receive pump while open (counters).</summary>
    public InboundPump? Inbound { get; private set; }

    // Counts of the receive pumps of sockets already closed: the totals below stay monotonic (Prometheus counters)
    // across open/close cycles.
    private long _retiredReceived, _retiredReceivedBytes, _retiredDelivered, _retiredGroMerged;

    /// <summary>Datagrams received on this format's socket since start (all its openings), and their bytes.</summary>
    public (long Packets, long Bytes) Received
    {
        get
        {
            lock (_gate)
                return (_retiredReceived + (Inbound?.Received.Packets ?? 0), _retiredReceivedBytes + (Inbound?.Received.Bytes ?? 0));
        }
    }

    /// <summary>Packets this format's sockets wrote to the TUN since start, and the segments GRO merged on the way.</summary>
    public (long Delivered, long GroMerged) Written
    {
        get
        {
            lock (_gate)
                return (_retiredDelivered + (Inbound?.Delivered.Packets ?? 0), _retiredGroMerged + (Inbound?.GroMerged ?? 0));
        }
    }

    /// <summary>Opens the socket before a batch that adds the first peer of this format is applied (so its first packets have a socket).</summary>
    public void BeforeApply(ReadOnlySpan<RouteUpdate> batch)
    {
        foreach (var u in batch)
        {
            if (u.Kind == RouteUpdateKind.Upsert && u.NextHop.Encapsulation == _kind)
            {
                lock (_gate)
                    Open();
                return;
            }
        }
    }

    /// <summary>
    /// Our backend changed from this format at this start (our lease said so before): peers that have not seen the new
    /// lease yet keep sending this format to its port. Keeps the socket open, accepting every leased peer, for
    /// <paramref name="grace"/> (checked on the next lease event after it: a socket open a little longer costs nothing).
    /// </summary>
    public void HoldOpenAfterBackendChange(TimeSpan grace)
    {
        lock (_gate)
        {
            _holdUntil = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(grace.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            Open();
            if (!IsOpen)
                return;
            _logger.LogInformation("Our lease said {Kind} before this start: keeping that socket open for {Grace} s for peers that have not seen our new lease yet",
                _kind, (int)grace.TotalSeconds);
            // When the grace ends: back to this format's peers only, and closed if there are none.
            _holdTimer = new Timer(_ => EndHold(), null, grace + TimeSpan.FromMilliseconds(100), Timeout.InfiniteTimeSpan);
        }
    }

    private void EndHold()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _peers.Replace(_ofKind);
            if (_ofKind.Count == 0 && IsOpen)
                Close();
        }
    }

    /// <summary>After the table changed: this port's allowed senders, and closes the socket when no peer of the format is left.</summary>
    public void AfterApply(ForwardingTable table)
    {
        var all = new HashSet<Ipv4Address>();
        var ofKind = new HashSet<Ipv4Address>();
        foreach (var (_, hop) in table.GetRoutes())
        {
            all.Add(hop.Endpoint.Address);
            if (hop.Encapsulation == _kind)
                ofKind.Add(hop.Endpoint.Address);
        }
        lock (_gate)
        {
            bool holding = System.Diagnostics.Stopwatch.GetTimestamp() < _holdUntil;
            _ofKind = ofKind;
            _peers.Replace(holding ? all : ofKind);
            if (ofKind.Count == 0 && !holding && IsOpen)
                Close();
        }
    }

    private void Open()
    {
        if (IsOpen)
            return;
        UdpUnderlay udp;
        try
        {
            udp = UdpUnderlay.Open(_socket);
        }
        catch (PlatformException e)
        {
            if (_openFailure != e.Message)
                _logger.LogError("Cannot open the {Kind} socket {Local} for peers of that backend (their packets are dropped as NoRoute): {Error}", _kind, _socket.LocalEndpoint, e.Message);
            _openFailure = e.Message;
            return;
        }
        _openFailure = null;
        var pump = new InboundPump(new UnderlayBinding(_encapsulation, udp), _tun, _peers, _drops, _onStranger);
        _closing = false;
        _receiver = new Thread(() =>
        {
            try
            {
                pump.Run();
            }
            catch (Exception e) when (!_closing)
            {
                _fatal($"{_kind} receive thread failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            }
        })
        { Name = $"dp-{_kind}-rx", IsBackground = true };
        _udp = udp;
        Inbound = pump;
        _receiver.Start();
        _send.Attach(udp);
        if (_mtu > _ownMtu)
            _setTunMtu(_mtu);
        _logger.LogInformation("Opened the {Kind} socket {Local} for peers of that backend (TUN MTU {Mtu} while it is in use)",
            _kind, _socket.LocalEndpoint, Math.Max(_mtu, _ownMtu));
    }

    private void Close()
    {
        var udp = _udp;
        if (udp is null)
            return;
        _send.Detach();
        _closing = true;
        udp.Cancel();
        _receiver?.Join(TimeSpan.FromSeconds(2));
        udp.Dispose();
        _udp = null;
        _receiver = null;
        if (Inbound is { } retired)
        {
            _retiredReceived += retired.Received.Packets;
            _retiredReceivedBytes += retired.Received.Bytes;
            _retiredDelivered += retired.Delivered.Packets;
            _retiredGroMerged += retired.GroMerged;
        }
        Inbound = null;
        if (_mtu > _ownMtu)
            _setTunMtu(_ownMtu);
        _logger.LogInformation("Closed the {Kind} socket {Local}: no peer of that backend left", _kind, _socket.LocalEndpoint);
    }

    /// <summary>Closes the socket if open.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _holdTimer?.Dispose();
            Close();
        }
    }

    /// <summary>
    /// The send side of the secondary socket as the outbound pump sees it: fixed batch size, the socket attached or not.
    /// Detach waits until no <see cref="Send"/> is inside the socket (both sides use full fences: the counter's
    /// Interlocked increment before reading the socket, Interlocked.Exchange before reading the counter), so the socket
    /// can be closed right after.
    /// </summary>
    private sealed class SwitchingUnderlay(int batchSize) : IUnderlay
    {
        private UdpUnderlay? _current;
        private int _senders;

        public int BatchSize { get; } = batchSize;

        public bool SegmentationOffload => Volatile.Read(ref _current)?.SegmentationOffload ?? false;

        public long GsoFallbacks => Volatile.Read(ref _current)?.GsoFallbacks ?? 0;

        public bool ReceiveOffload => false;

        public void Attach(UdpUnderlay udp) => Interlocked.Exchange(ref _current, udp);

        public void Detach()
        {
            Interlocked.Exchange(ref _current, null);
            SpinWait.SpinUntil(() => Volatile.Read(ref _senders) == 0);
        }

        public IoResult Send(DatagramBatch batch)
        {
            Interlocked.Increment(ref _senders);
            try
            {
                if (Volatile.Read(ref _current) is { } udp)
                    return udp.Send(batch);
            }
            finally
            {
                Interlocked.Decrement(ref _senders);
            }
            foreach (ref var m in batch.Messages)
                m.Verdict = DropReason.NoRoute;
            return IoResult.Ok;
        }

        public IoResult Receive(Span<PacketBuffer> packets, bool wait, out int count)
        {
            count = 0;
            return new IoResult(IoStatus.Closed);
        }

        public void Cancel()
        {
        }
    }
}

/// <summary>Builds a node's <see cref="SecondaryBackend"/>: the format of its main backend's counterpart, socket options as the main socket's.</summary>
internal static class SecondaryBackends
{
    /// <summary>The secondary backend of a udp or vxlan node (closed until a peer of the other format appears).</summary>
    public static SecondaryBackend Create(Daemon.DataPathContext context, UdpUnderlay main, ITunDevice tun, ForwardingTable table, bool checkPeers, PeerTraffic traffic,
        DropCounters drops, Action<UnderlayEndpoint> onStranger, Action<int> setTunMtu, ILogger logger, Action<string> fatal)
    {
        var config = context.Config;
        bool ownVxlan = config.Backend.Type == Config.BackendType.Vxlan;
        var kind = ownVxlan ? EncapsulationKind.FlannelUdp : EncapsulationKind.Vxlan;
        // The other format's flannel default port and MTU (reference/flannel.md: udp external − 28, vxlan − 50).
        var other = ownVxlan ? Config.BackendConfig.DefaultUdp : new Config.BackendConfig(Config.BackendType.Vxlan, Config.BackendConfig.DefaultVxlanPort, 1, null);
        int mtu = (config.Backend.Mtu ?? context.Interface.Mtu) - other.Overhead;
        bool tso = (tun.Offloads & TunOffloads.Tso4) != 0;
        int maxReceive = tso ? 65535 - (ownVxlan ? FlannelUdpEncapsulation.WireOverhead : VxlanEncapsulation.WireOverhead) : mtu;
        // A udp node has no published VTEP MAC: ours towards vxlan peers is a random locally administered one (it only
        // has to differ from theirs; they accept any inner source MAC but their own).
        IEncapsulation encapsulation = ownVxlan
            ? new FlannelUdpEncapsulation(mtu) { MaxReceiveLength = maxReceive }
            : new VxlanEncapsulation(config.Backend.Vni, MacAddress.NewRandomLocal(), mtu) { MaxReceiveLength = maxReceive };
        var socket = new UdpUnderlayOptions
        {
            LocalEndpoint = new UnderlayEndpoint(context.Interface.IfaceAddr, other.Port),
            DontFragment = ownVxlan ? DontFragmentPolicy.KernelDefault : DontFragmentPolicy.Clear, // as that backend's main socket
            ReceiveBufferSize = 4 << 20,
            SendBufferSize = 4 << 20,
            BatchSize = main.BatchSize,
            SegmentationOffload = main.SegmentationOffload,
            ReceiveOffload = main.ReceiveOffload,
        };
        // The main socket's per-peer counters: a peer's traffic is one row whichever socket carried it (the receive pump
        // takes a counter block of its own, as every pump thread does).
        var peers = new PeerFilter { Enabled = checkPeers, LocalSubnet = context.Lease.Subnet, Routes = table, Traffic = traffic };
        return new SecondaryBackend(kind, encapsulation, socket, tun, peers, drops, onStranger, context.OverlayMtu, mtu, setTunMtu, logger, fatal);
    }
}

using Dataplane.Devices;
using Dataplane.Encapsulation;
using Dataplane.Diagnostics;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// Runs the data path: one <see cref="OutboundPump"/> thread (TUN → peers) and one <see cref="InboundPump"/> thread per
/// underlay socket (peers → TUN), or, given an <see cref="IReadinessWaiter"/>, all of it on one thread
/// (<see cref="SingleThreadPump"/>). Each packet is handled start to finish on the thread that read it: no queues, no
/// cross-thread handoff per packet (a cross-vCPU wakeup costs ~20 µs on this machine kind, performance.md §2.4).
/// </summary>
/// <remarks>
/// The engine borrows the devices: the caller creates them before and disposes them after. <see cref="Stop"/> wakes the
/// blocked reads through the devices' cancellers and joins the threads.
/// </remarks>
public sealed class DataplaneEngine
{
    private readonly ITunDevice _tun;
    private readonly IReadOnlyList<UnderlayBinding> _bindings;
    private readonly List<Thread> _threads = new();
    private readonly List<InboundPump> _inbound = new();
    private volatile Exception? _fault;
    private readonly IReadinessWaiter? _singleThread;

    /// <summary>Wires the pumps. Nothing runs until <see cref="Start"/>.</summary>
    public DataplaneEngine(ITunDevice tun, IReadOnlyList<UnderlayBinding> bindings, ForwardingTable table, PeerFilter? peers,
        DropCounters drops, Action<UnderlayEndpoint>? onFirstStranger = null, IcmpRateLimiter? icmpLimiter = null,
        VxlanArpResponder? arp = null, ushort arpReplyPort = 0, IReadinessWaiter? singleThread = null, PeerTraffic? peerTraffic = null,
        IReadOnlyList<UnderlayBinding>? sendOnly = null)
    {
        _singleThread = singleThread;
        _tun = tun;
        _bindings = bindings;
        Drops = drops;
        // Received datagrams are counted per peer through peers.Traffic (the inbound pumps take their blocks there).
        // sendOnly: formats the outbound pump may send in whose receive side the caller runs itself (per-peer
        // encapsulation's secondary socket, opened and closed while the engine runs).
        Outbound = new OutboundPump(tun, table, sendOnly is null ? bindings : [.. bindings, .. sendOnly], drops, icmpLimiter) { PeerTraffic = peerTraffic };
        foreach (var b in bindings)
        {
            bool vxlan = b.Encapsulation.Kind == EncapsulationKind.Vxlan;
            _inbound.Add(new InboundPump(b, tun, peers, drops, onFirstStranger, arp: vxlan ? arp : null, arpReplyPort: arpReplyPort));
        }
    }

    /// <summary>TUN → peers.</summary>
    public OutboundPump Outbound { get; }

    /// <summary>Peers → TUN, one per socket.</summary>
    public IReadOnlyList<InboundPump> Inbound => _inbound;

    /// <summary>Drops by reason.</summary>
    public DropCounters Drops { get; }

    /// <summary>An unexpected exception that stopped a pump thread, if any. The daemon must exit when set.</summary>
    public Exception? Fault => _fault;

    /// <summary>Raised (on the failing pump thread) when a pump dies of an unexpected exception.</summary>
    public event Action<Exception>? Faulted;

    /// <summary>Starts the pump threads.</summary>
    public void Start()
    {
        if (_singleThread is not null)
        {
            StartThread("dp-pump", new SingleThreadPump(Outbound, _inbound, _singleThread, Drops).Run);
            return;
        }
        StartThread($"dp-tun-rx", Outbound.Run);
        for (int i = 0; i < _inbound.Count; i++)
            StartThread($"dp-udp-rx-{i}", _inbound[i].Run);
    }

    /// <summary>Wakes and joins every pump thread; true when all ended within <paramref name="timeout"/>.</summary>
    public bool Stop(TimeSpan timeout)
    {
        _tun.Cancel();
        foreach (var b in _bindings)
            b.Underlay.Cancel();
        _singleThread?.Cancel();
        var deadline = DateTime.UtcNow + timeout;
        bool all = true;
        foreach (var t in _threads)
        {
            var left = deadline - DateTime.UtcNow;
            all &= t.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        return all;
    }

    private void StartThread(string name, Action body)
    {
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception ex)
            {
                _fault = ex;
                Faulted?.Invoke(ex);
            }
        })
        {
            Name = name,
            IsBackground = true,
        };
        _threads.Add(thread);
        thread.Start();
    }
}

using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// Underlay → TUN for one socket, one packet per syscall (flannel's <c>udp_to_tun</c> done better).
/// </summary>
/// <remarks>
/// <para>Flow per datagram: receive into a buffer larger than any valid datagram (so an oversized one is seen and
/// counted, never truncated) → drop it if the sender holds no lease (<see cref="PeerFilter"/>) → decapsulate in place
/// (validation, TTL for flannel-udp, MTU check) → write the inner packet to the TUN.</para>
/// <para>Threading: <see cref="Run"/> runs on one dedicated thread per socket; it owns its buffer.</para>
/// </remarks>
public sealed class InboundPump
{
    private const int MaxRememberedStrangers = 1024;
    private readonly UnderlayBinding _binding;
    private readonly ITunDevice _tun;
    private readonly PeerFilter? _peers;
    private readonly DropCounters _drops;
    private readonly PacketBuffer _buffer;
    private readonly HashSet<uint> _strangers = new();
    private readonly Action<UnderlayEndpoint>? _onFirstStranger;
    private readonly VxlanArpResponder? _arp;
    private readonly ushort _arpReplyPort;

    /// <summary>Creates the pump for one socket.</summary>
    /// <param name="binding">The socket and the format it carries.</param>
    /// <param name="tun">Where inner packets go.</param>
    /// <param name="peers">Allowed senders; null accepts anyone.</param>
    /// <param name="drops">Drop counters shared with the rest of the data path.</param>
    /// <param name="onFirstStranger">Called once per unknown source address (so the daemon can log it loudly).</param>
    /// <param name="bufferSize">Receive buffer size; larger than any datagram a peer may legitimately send.</param>
    /// <param name="arp">For VXLAN: answers ARP probes from kernel peers (sent back on the same socket).</param>
    /// <param name="arpReplyPort">Peer port for ARP replies: the cluster-wide VXLAN port.</param>
    public InboundPump(UnderlayBinding binding, ITunDevice tun, PeerFilter? peers, DropCounters drops,
        Action<UnderlayEndpoint>? onFirstStranger = null, int bufferSize = 65536, VxlanArpResponder? arp = null, ushort arpReplyPort = 0)
    {
        _arp = arp;
        _arpReplyPort = arpReplyPort;
        _binding = binding;
        _tun = tun;
        _peers = peers;
        _drops = drops;
        _onFirstStranger = onFirstStranger;
        _buffer = new PacketBuffer(bufferSize + PacketBuffer.DefaultHeadroom);
    }

    /// <summary>Packets written to the TUN.</summary>
    public PumpCounters Delivered { get; } = new();

    /// <summary>Moves datagrams until the socket is cancelled or closed. Call on a dedicated thread.</summary>
    public void Run()
    {
        var buffer = _buffer;
        var underlay = _binding.Underlay;
        while (true)
        {
            buffer.Reset();
            var received = underlay.Receive(buffer);
            switch (received.Status)
            {
                case IoStatus.Ok:
                    Deliver(buffer);
                    break;
                case IoStatus.Closed:
                    return;
                case IoStatus.Truncated:
                    _drops.Increment(DropReason.TooBig);
                    break;
                default:
                    _drops.Increment(DropReason.IoError);
                    Thread.Sleep(1); // a failing socket must not spin a core
                    break;
            }
        }
    }

    /// <summary>Handles one received datagram (exposed for tests and benchmarks).</summary>
    internal void Deliver(PacketBuffer buffer)
    {
        if (_peers is not null && !_peers.Allows(buffer.Peer.Address))
        {
            _drops.Increment(DropReason.UnknownSource);
            NoteStranger(buffer.Peer);
            return;
        }
        if (_arp is not null && _arp.TryAnswer(buffer))
        {
            // Reply to the asker's address on the VXLAN port (the kernel sends from a flow-hashed source port and
            // listens on the configured one, which is ours too: the port is cluster-wide).
            buffer.Peer = buffer.Peer with { Port = _arpReplyPort };
            if (!_binding.Underlay.Send(buffer).IsOk)
                _drops.Increment(DropReason.IoError);
            return;
        }
        var reason = _binding.Encapsulation.Decapsulate(buffer);
        if (reason != DropReason.None)
        {
            _drops.Increment(reason);
            return;
        }
        var written = _tun.Write(buffer);
        if (written.IsOk)
            Delivered.Add(buffer.Length);
        else if (written.Status != IoStatus.Closed)
            _drops.Increment(DropReason.IoError);
    }

    private void NoteStranger(UnderlayEndpoint source)
    {
        // Bounded memory: after 1024 distinct strangers we stop remembering (and stop logging) new ones.
        if (_onFirstStranger is null || !_peers!.IsInitialized || _strangers.Count >= MaxRememberedStrangers || !_strangers.Add(source.Address.Value))
            return;
        _onFirstStranger(source);
    }
}

using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// Underlay → TUN for one socket, a batch at a time: receive up to <see cref="IUnderlay.BatchSize"/> datagrams
/// (recvmmsg), give each its verdict, write the inner packets that pass into the TUN in their order of arrival.
/// </summary>
/// <remarks>
/// <para>Flow per datagram: the receive buffers are larger than any valid datagram (so an oversized one is seen and
/// counted, never truncated) → drop it if the sender holds no lease (<see cref="PeerFilter"/>) → VXLAN: answer an ARP
/// probe on the same socket (rate-limited) → decapsulate in place (validation, TTL for flannel-udp, MTU check) → the
/// inner checks (IPv4 only, destination in our subnet, source the peer's: <see cref="PeerFilter.CheckInner"/>) →
/// TUN.</para>
/// <para>With a batch of one this is flannel's <c>udp_to_tun</c>: one recv, one write per packet.</para>
/// <para>Threading and ownership: one thread drives the pump (<see cref="Run"/>, or <see cref="Pump"/> from the
/// single-threaded loop); it owns its buffers (allocated once) and its ARP reply batch.</para>
/// </remarks>
public sealed class InboundPump
{
    private const int MaxRememberedStrangers = 1024;
    private readonly UnderlayBinding _binding;
    private readonly ITunDevice _tun;
    private readonly PeerFilter? _peers;
    private readonly DropCounters _drops;
    private readonly PacketBuffer[] _packets;
    private readonly HashSet<uint> _strangers = new();
    private readonly Action<UnderlayEndpoint>? _onFirstStranger;
    private readonly VxlanArpResponder? _arp;
    private readonly ushort _arpReplyPort;
    private readonly DatagramBatch _arpReplies = new(maxMessages: 1, maxFragments: 2);
    // A view that walks the datagrams of a GRO train in place (see DeliverTrain); never owns memory.
    private PacketBuffer _segment = new(PacketBuffer.DefaultHeadroom + 1);

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
        int batch = Math.Max(1, binding.Underlay.BatchSize);
        // Headroom keeps room for the TUN's offload header in front of the inner packet after decapsulation.
        var pool = new PacketBufferPool(batch, bufferSize + PacketBuffer.DefaultHeadroom, PacketBuffer.DefaultHeadroom);
        _packets = new PacketBuffer[batch];
        for (int i = 0; i < batch; i++)
            _packets[i] = pool.TryRent(out var buffer) ? buffer : throw new InvalidOperationException("a new pool is empty");
    }

    /// <summary>Packets written to the TUN.</summary>
    public PumpCounters Delivered { get; } = new();

    /// <summary>Datagrams received from the socket (whatever became of them).</summary>
    public PumpCounters Received { get; } = new();

    /// <summary>Moves datagrams until the socket is cancelled or closed. Call on a dedicated thread.</summary>
    public void Run()
    {
        var backoff = new Backoff();
        while (true)
        {
            var result = Pump(wait: true);
            if (!backoff.Continue(result, _drops))
                return;
        }
    }

    /// <summary>
    /// Receives one batch (waiting for its first datagram when <paramref name="wait"/>) and delivers it. Returns the
    /// receive's status: Ok when datagrams arrived, WouldBlock, Closed, or Error (counted by the caller's loop).
    /// </summary>
    public IoResult Pump(bool wait)
    {
        var packets = _packets.AsSpan();
        foreach (var p in packets)
            p.Reset();
        var result = _binding.Underlay.Receive(packets, wait, out int count);
        if (result.IsOk)
            Deliver(packets[..count]);
        return result;
    }

    /// <summary>
    /// Handles received datagrams (exposed for tests and benchmarks): each gets a verdict; those that pass are moved
    /// (in order) to the front of <paramref name="packets"/> and written to the TUN in one call.
    /// </summary>
    internal void Deliver(Span<PacketBuffer> packets)
    {
        int passing = 0;
        for (int i = 0; i < packets.Length; i++)
        {
            var packet = packets[i];
            if (packet.Verdict == DropReason.None && packet.Offload.GsoSize > 0 && packet.Length > packet.Offload.GsoSize)
            {
                // A GRO train: what came before it goes first (order), then its datagrams one by one.
                WriteToTun(packets[..passing]);
                passing = 0;
                DeliverTrain(packet);
                continue;
            }
            Received.Add(packet.Length);
            bool consumed = false;
            var reason = packet.Verdict != DropReason.None ? packet.Verdict : Classify(packet, out consumed);
            if (reason != DropReason.None)
            {
                _drops.Increment(reason);
                continue;
            }
            if (consumed)
                continue;
            // Stable compaction: swap the passing buffer forward; the ones it passes over are done with (every index
            // below i has been handled, so the front of the span is free to reuse).
            (packets[passing], packets[i]) = (packets[i], packets[passing]);
            passing++;
        }
        WriteToTun(packets[..passing]);
    }

    /// <summary>
    /// The datagrams of one GRO train (UDP_GRO coalesced same-size datagrams into <paramref name="train"/>), each
    /// handled and written in order through a view over the train's memory: no copy. A datagram's decapsulation and
    /// the TUN's offload header may overwrite the bytes just before it, which belong to datagrams already written; the
    /// first one has the buffer's own headroom. Every datagram gets every check a single one gets.
    /// </summary>
    private void DeliverTrain(PacketBuffer train)
    {
        int size = train.Offload.GsoSize;
        int first = train.WindowStart + train.Offset;
        var view = _segment;
        for (int at = 0; at < train.Length; at += size)
        {
            int length = Math.Min(size, train.Length - at);
            int headroom = PacketBuffer.DefaultHeadroom;
            view.Rebind(train.Array, first + at - headroom, headroom + length, headroom, length);
            view.Peer = train.Peer;
            Received.Add(length);
            var reason = Classify(view, out bool consumed);
            if (reason != DropReason.None)
                _drops.Increment(reason);
            else if (!consumed)
                WriteToTun(new Span<PacketBuffer>(ref _segment));
        }
    }

    private void WriteToTun(Span<PacketBuffer> toWrite)
    {
        if (toWrite.IsEmpty || _tun.Write(toWrite).Status == IoStatus.Closed)
            return;
        foreach (var packet in toWrite)
        {
            if (packet.Verdict == DropReason.None)
                Delivered.Add(packet.Length);
            else
                _drops.Increment(packet.Verdict);
        }
    }

    // The verdict on one datagram; consumed = answered here (an ARP probe), nothing to write.
    private DropReason Classify(PacketBuffer packet, out bool consumed)
    {
        consumed = false;
        if (_peers is not null && !_peers.Allows(packet.Peer.Address))
        {
            NoteStranger(packet.Peer);
            return DropReason.UnknownSource;
        }
        var arp = _arp?.TryAnswer(packet) ?? ArpOutcome.NotArp;
        if (arp == ArpOutcome.Refused)
            return DropReason.ArpRefused;
        if (arp == ArpOutcome.Answered)
        {
            consumed = true;
            // Reply to the asker's address on the VXLAN port (the kernel sends from a flow-hashed source port and
            // listens on the configured one, which is ours too: the port is cluster-wide).
            packet.Peer = packet.Peer with { Port = _arpReplyPort };
            _arpReplies.Clear();
            _arpReplies.TryAdd(packet);
            _binding.Underlay.Send(_arpReplies);
            return _arpReplies.Count == 1 ? _arpReplies.Messages[0].Verdict : DropReason.None;
        }
        var reason = _binding.Encapsulation.Decapsulate(packet);
        if (reason != DropReason.None || _peers is null)
            return reason;
        return _peers.CheckInner(packet.Peer.Address, packet.Data);
    }

    private void NoteStranger(UnderlayEndpoint source)
    {
        // Bounded memory: after 1024 distinct strangers we stop remembering (and stop logging) new ones.
        if (_onFirstStranger is null || !_peers!.IsInitialized || _strangers.Count >= MaxRememberedStrangers || !_strangers.Add(source.Address.Value))
            return;
        _onFirstStranger(source);
    }
}

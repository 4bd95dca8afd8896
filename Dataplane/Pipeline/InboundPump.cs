using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Offload;
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
/// single-threaded loop); it owns its buffers (allocated once), its ARP reply batch and its per-peer counter block
/// (taken from the peer filter's <see cref="PeerFilter.Traffic"/>: plain adds, read racily by the metrics).</para>
/// </remarks>
public sealed class InboundPump
{
    private const int MaxRememberedStrangers = 1024;
    private readonly UnderlayBinding _binding;
    private readonly ITunDevice _tun;
    private readonly PeerFilter? _peers;
    private readonly DropCounters _drops;
    private readonly PacketBuffer[] _packets;
    // How many of _packets the next Pump must reset (all of them before the first call).
    private int _dirty = int.MaxValue;
    private readonly HashSet<uint> _strangers = new();
    private readonly Action<UnderlayEndpoint>? _onFirstStranger;
    private readonly VxlanArpResponder? _arp;
    private readonly ushort _arpReplyPort;
    private readonly DatagramBatch _arpReplies = new(maxMessages: 1, maxFragments: 2);
    // Inner packets that passed every check, in arrival order, waiting for one coalesce + TUN write: the received
    // buffers themselves, or spares holding the datagrams of a GRO train.
    private readonly PacketBuffer[] _toWrite;
    private int _pending;
    private readonly PacketBuffer[] _spares;
    private int _sparesUsed;
    private readonly GroCoalescer? _gro;
    private readonly bool _offloadTun;
    private readonly int _mtu;
    private readonly PeerTrafficBlock? _peerReceived;
    private readonly TracedLayer _layer;
    private long _now;

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
        _packets = Rent(batch, bufferSize);
        // A GRO train is up to 64 datagrams; each gets a spare buffer of the large class (it may become the head of a
        // coalesced super-packet, which grows into its tail room).
        _spares = binding.Underlay.ReceiveOffload ? Rent(64, bufferSize) : [];
        _toWrite = new PacketBuffer[batch + _spares.Length];
        _mtu = binding.Encapsulation.MaxInnerLength;
        _peerReceived = peers?.Traffic?.CreateBlock(TrafficDirection.Received);
        _layer = binding.Encapsulation.Kind == EncapsulationKind.Vxlan ? TracedLayer.VxlanPayload : TracedLayer.FlannelUdpPayload;
        _offloadTun = (tun.Offloads & TunOffloads.Checksum) != 0;
        if ((tun.Offloads & (TunOffloads.Tso4 | TunOffloads.Tso6)) != 0 && batch > 1)
        {
            _gro = new GroCoalescer(_toWrite.Length, acceptPartialChecksums: true)
            {
                MaxSegmentLength = _mtu,
                CoalesceUdp = (tun.Offloads & (TunOffloads.Uso4 | TunOffloads.Uso6)) != 0,
            };
        }
    }

    private static PacketBuffer[] Rent(int count, int bufferSize)
    {
        var pool = new PacketBufferPool(count, bufferSize + PacketBuffer.DefaultHeadroom, PacketBuffer.DefaultHeadroom);
        var buffers = new PacketBuffer[count];
        for (int i = 0; i < count; i++)
            buffers[i] = pool.TryRent(out var buffer) ? buffer : throw new InvalidOperationException("a new pool is empty");
        return buffers;
    }

    /// <summary>TCP/UDP segments merged into super-packets before the TUN write (GRO), and super-packets written.</summary>
    public long GroMerged => _gro?.SegmentsMerged ?? 0;

    /// <summary>Super-packets written to the TUN (GRO).</summary>
    public long GroSuperPackets => _gro?.SuperPackets ?? 0;

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
        // Only the buffers the last call could have touched need a reset (those it returned, and the one a read that
        // came back empty may have started on): an idle loop iteration must not walk the whole batch.
        foreach (var p in packets[..Math.Min(_dirty, packets.Length)])
            p.Reset();
        var result = _binding.Underlay.Receive(packets, wait, out int count);
        _dirty = Math.Min(count + 1, packets.Length);
        if (result.IsOk)
            Deliver(packets[..count]);
        return result;
    }

    /// <summary>
    /// Handles received datagrams (exposed for tests and benchmarks): each gets a verdict; those that pass are queued in
    /// arrival order, the datagrams of a GRO train copied out into spare buffers one by one, and everything queued is
    /// coalesced (GRO, with an offload TUN) and written to the TUN.
    /// </summary>
    internal void Deliver(Span<PacketBuffer> packets)
    {
        // One clock read per batch: the per-peer "last packet" stamp needs no finer grain.
        _now = Environment.TickCount64;
        foreach (var packet in packets)
        {
            if (packet.Verdict == DropReason.None && packet.Offload.GsoSize > 0 && packet.Length > packet.Offload.GsoSize)
                DeliverTrain(packet);
            else
                Accept(packet);
        }
        Flush();
    }

    private void Accept(PacketBuffer packet)
    {
        Received.Add(packet.Length);
        bool consumed = false;
        // The datagram as received: decapsulation moves the packet's start, not these bytes, so a traced drop shows it whole.
        int start = packet.WindowStart + packet.Offset, length = packet.Length;
        var reason = packet.Verdict != DropReason.None ? packet.Verdict : Classify(packet, out consumed);
        if (reason != DropReason.None)
        {
            _drops.Increment(reason);
            var trace = _drops.Trace;
            if (trace.Active)
                trace.Record(reason, _layer, packet.Peer, packet.Array.AsSpan(start, length));
            return;
        }
        if (!consumed)
            _toWrite[_pending++] = packet;
    }

    /// <summary>
    /// The datagrams of one GRO train (UDP_GRO coalesced same-size datagrams into <paramref name="train"/>): each is
    /// copied into a spare buffer and gets every check a single datagram gets. One copy per byte, so that the inner
    /// packets can be coalesced again for the TUN, which grows each head packet into its buffer's tail room.
    /// </summary>
    private void DeliverTrain(PacketBuffer train)
    {
        int size = train.Offload.GsoSize;
        var data = train.Data;
        if (_spares.Length == 0)
        {
            // An underlay that said it never coalesces handed over a train anyway: a bug there, not a reason to stop.
            Received.Add(data.Length);
            _drops.Increment(DropReason.UnsupportedOffload);
            return;
        }
        for (int at = 0; at < data.Length; at += size)
        {
            if (_sparesUsed == _spares.Length)
                Flush();
            var spare = _spares[_sparesUsed++];
            spare.Reset();
            spare.Load(data.Slice(at, Math.Min(size, data.Length - at)));
            spare.Peer = train.Peer;
            Accept(spare);
        }
    }

    /// <summary>Coalesces what is queued, prepares each packet's offload header, writes them in one call and counts.</summary>
    private void Flush()
    {
        var queued = _toWrite.AsSpan(0, _pending);
        _pending = 0;
        _sparesUsed = 0;
        if (queued.IsEmpty)
            return;
        int count = _gro?.Coalesce(queued) ?? queued.Length;
        var toWrite = queued[..count];
        foreach (var packet in toWrite)
        {
            if (packet.Offload.GsoType != GsoType.None || packet.Offload.NeedsChecksum)
                continue; // a coalesced super-packet: its header is final
            // A kernel peer on a virtual underlay hands its datagrams over unfinished (CHECKSUM_PARTIAL inner sums, and
            // tunnel-GSO inner super-packets): say so to an offload TUN, or finish the checksum for a plain one.
            var reason = _offloadTun
                ? TransportChecksum.PrepareTunWrite(packet.Data, _mtu, out var header)
                : CompletePartial(packet, out header);
            packet.Offload = header;
            packet.Verdict = reason;
        }
        if (_tun.Write(toWrite).Status == IoStatus.Closed)
            return;
        foreach (var packet in toWrite)
        {
            if (packet.Verdict == DropReason.None)
                Delivered.Add(packet.Length);
            else
                _drops.Increment(packet.Verdict);
        }
    }

    // A plain TUN takes no offload header: finish a partial checksum in software (PrepareTunWrite looks at the
    // headers only, unless the checksum field equals the pseudo-header fold); an inner super-packet cannot be written.
    private DropReason CompletePartial(PacketBuffer packet, out VirtioNetHeader header)
    {
        var reason = TransportChecksum.PrepareTunWrite(packet.Data, _mtu, out header);
        if (reason != DropReason.None)
            return reason;
        if (header.GsoType != GsoType.None)
            reason = DropReason.TooBig;
        else if (header.NeedsChecksum)
            reason = TransportChecksum.Complete(packet.Data);
        header = default;
        return reason;
    }

    // The verdict on one datagram; consumed = answered here (an ARP probe), nothing to write.
    private DropReason Classify(PacketBuffer packet, out bool consumed)
    {
        consumed = false;
        if (_peers is not null)
        {
            if (!_peers.Allows(packet.Peer.Address, out int slot))
            {
                NoteStranger(packet.Peer);
                return DropReason.UnknownSource;
            }
            _peerReceived?.Add(slot, packet.Length, _now);
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

using Dataplane.Buffers;
using Dataplane.Devices;
using Dataplane.Diagnostics;
using Dataplane.Encapsulation;
using Dataplane.Forwarding;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Pipeline;

/// <summary>
/// TUN → underlay, a batch at a time: read up to <see cref="ITunDevice.BatchSize"/> packets, give each its verdict,
/// and hand everything that moves to each socket in one <see cref="IUnderlay.Send"/> (one sendmmsg).
/// </summary>
/// <remarks>
/// <para>Flow per packet: IPv4 check → longest-prefix lookup (no route: ICMP net-unreachable back into the TUN,
/// rate-limited, and a counted drop) → by offload header:
/// <list type="bullet">
/// <item>a plain packet (a partial checksum completed first) is encapsulated in place (headers prepended into its
/// headroom) and added as one datagram;</item>
/// <item>a TSO/USO super-packet is split: each segment's encapsulation and inner headers are written into this pump's
/// header arena, its payload stays where the TUN put it, and the two go out as the two iovecs of one datagram; the
/// datagrams of a super-packet form GSO trains (UDP_SEGMENT) when the socket can, several per super-packet when the
/// kernel's limits (64 datagrams, 65,507 bytes) demand it.</item>
/// </list>
/// With a batch of one and a plain TUN this is exactly flannel's <c>tun_to_udp</c> (one read, one sendto per packet):
/// the per-packet baseline.</para>
/// <para>Threading and ownership: one thread drives the pump (<see cref="Run"/>, or <see cref="Pump"/> from the
/// single-threaded loop). It owns its read buffers, its header arena and its datagram batches, all allocated once;
/// fragments in a batch point into them and stay valid until that batch is sent, which always happens before the
/// next read. It shares the TUN with the inbound pump (concurrent read and write are fine) and reads the forwarding
/// table lock-free. Its per-peer counter block (<see cref="PeerTraffic"/>) is its own: plain adds, read racily by the
/// metrics; a drop is copied into the shared <see cref="DropTrace"/> only while someone follows it.</para>
/// </remarks>
public sealed class OutboundPump
{
    // Every segment's headers (VXLAN 8 + Ethernet 14 + IPv4 ≤ 60 + TCP ≤ 60 = 142, IPv6 40 + TCP 60 + 22 = 122) fit.
    private const int HeaderSlot = 160;

    private readonly ITunDevice _tun;
    private readonly ForwardingTable _table;
    private readonly UnderlayBinding?[] _byKind;
    private readonly DatagramBatch?[] _batches;
    private readonly UnderlayBinding[] _bindings;
    private readonly DropCounters _drops;
    private readonly IcmpRateLimiter _icmpLimiter;
    private readonly PacketBuffer[] _packets;
    // How many of _packets the next Pump must reset (all of them before the first call).
    private int _dirty = int.MaxValue;
    private PacketBuffer _icmp;
    private readonly byte[] _arena;
    private int _arenaUsed;
    private PeerTrafficBlock? _peerSent;
    private long _now;

    /// <summary>Creates the pump. <paramref name="bindings"/> gives the socket for each wire format the node speaks.</summary>
    public OutboundPump(ITunDevice tun, ForwardingTable table, IEnumerable<UnderlayBinding> bindings, DropCounters drops,
        IcmpRateLimiter? icmpLimiter = null)
    {
        _tun = tun;
        _table = table;
        _drops = drops;
        _icmpLimiter = icmpLimiter ?? new IcmpRateLimiter();
        _bindings = bindings.ToArray();
        _byKind = new UnderlayBinding?[Enum.GetValues<EncapsulationKind>().Length];
        _batches = new DatagramBatch?[_byKind.Length];
        foreach (var b in _bindings)
        {
            _byKind[(int)b.Encapsulation.Kind] = b;
            _batches[(int)b.Encapsulation.Kind] = new DatagramBatch();
        }
        int batch = Math.Max(1, tun.BatchSize);
        var pool = new PacketBufferPool(batch, tun.MaxPacketSize + PacketBuffer.DefaultHeadroom + tun.WriteHeadroom, PacketBuffer.DefaultHeadroom);
        _packets = new PacketBuffer[batch];
        for (int i = 0; i < batch; i++)
            _packets[i] = pool.TryRent(out var buffer) ? buffer : throw new InvalidOperationException("a new pool is empty");
        _icmp = new PacketBuffer(IcmpErrors.MaxLength + PacketBuffer.DefaultHeadroom + tun.WriteHeadroom);
        // One header slot per iovec pair a batch can hold: the arena never runs out before the batch does.
        _arena = GC.AllocateArray<byte>(HeaderSlot * 1024, pinned: true);
    }

    /// <summary>Datagrams sent to peers (segments count one each) and their UDP payload bytes.</summary>
    public PumpCounters Sent { get; } = new();

    /// <summary>Packets read from the TUN (a super-packet counts one) and their bytes: reads per segment = this / Sent.</summary>
    public PumpCounters Read { get; } = new();

    /// <summary>
    /// Where this pump counts datagrams per peer (by <see cref="NextHop.CounterSlot"/>); null: not counted. Set before
    /// the pump runs: it takes its own block, written by its thread only.
    /// </summary>
    public PeerTraffic? PeerTraffic
    {
        init => _peerSent = value?.CreateBlock(TrafficDirection.Sent);
    }

    /// <summary>ICMP errors written back into the TUN.</summary>
    public long IcmpSent { get; private set; }

    /// <summary>Moves packets until the TUN is cancelled or closed. Call on a dedicated thread.</summary>
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
    /// Reads one batch from the TUN (waiting for its first packet when <paramref name="wait"/>) and forwards it.
    /// Returns the read's status: Ok when packets moved, WouldBlock, Closed, or Error (counted by the caller's loop).
    /// </summary>
    public IoResult Pump(bool wait)
    {
        var packets = _packets.AsSpan();
        // Only the buffers the last call could have touched need a reset (those it returned, and the one a read that
        // came back empty may have started on): an idle loop iteration must not walk the whole batch.
        foreach (var p in packets[..Math.Min(_dirty, packets.Length)])
            p.Reset();
        var result = _tun.Read(packets, wait, out int count);
        _dirty = Math.Min(count + 1, packets.Length);
        if (result.IsOk)
            Forward(packets[..count]);
        return result;
    }

    /// <summary>Forwards packets read from the TUN (exposed for tests and benchmarks): every one gets a verdict, every datagram is sent.</summary>
    internal void Forward(Span<PacketBuffer> packets)
    {
        // One clock read per batch: the per-peer "last packet" stamp needs no finer grain.
        _now = Environment.TickCount64;
        foreach (var packet in packets)
        {
            Read.Add(packet.Length);
            // Where the packet starts as read: encapsulation prepends into the headroom, so a traced drop still shows the
            // packet as the TUN gave it.
            int start = packet.WindowStart + packet.Offset, length = packet.Length;
            var reason = ForwardOne(packet);
            if (reason != DropReason.None)
            {
                _drops.Increment(reason);
                var trace = _drops.Trace;
                if (trace.Active)
                    trace.Record(reason, TracedLayer.TunPacket, default, packet.Array.AsSpan(start, length));
            }
        }
        Flush();
    }

    private DropReason ForwardOne(PacketBuffer packet)
    {
        var data = packet.Data;
        if (data.Length < Ipv4Header.MinimumLength || data[0] >> 4 != 4)
        {
            // The table is IPv4 (as flannel's); IPv6 chatter from the TUN (e.g. router solicitations) lands here.
            return data.Length < Ipv4Header.MinimumLength ? DropReason.Truncated : DropReason.BadIpVersion;
        }
        var destination = Ipv4Address.Read(data[16..]);
        if (!_table.TryLookup(destination, out var nextHop))
        {
            SendNetUnreachable(data, destination);
            return DropReason.NoRoute;
        }
        int kind = (int)nextHop.Encapsulation;
        var binding = _byKind[kind];
        if (binding is null)
            return DropReason.NoRoute; // the peer speaks a format this node has no socket for
        var batch = _batches[kind]!;
        var offload = packet.Offload;
        if (offload.GsoType != GsoType.None)
        {
            var verdict = ForwardSuperPacket(packet, binding, batch, nextHop);
            if (verdict == DropReason.TooBig)
                SendFragmentationNeeded(data, destination, binding.Encapsulation.MaxInnerLength);
            return verdict;
        }
        if (offload.NeedsChecksum)
        {
            var completed = GsoSegmenter.CompleteChecksum(data, offload);
            if (completed != DropReason.None)
                return completed;
        }
        var reason = binding.Encapsulation.Encapsulate(packet, nextHop);
        if (reason == DropReason.TooBig)
            SendFragmentationNeeded(data, destination, binding.Encapsulation.MaxInnerLength); // the packet is untouched
        if (reason != DropReason.None)
            return reason;
        if (!batch.TryAdd(packet))
        {
            Flush();
            batch.TryAdd(packet); // an empty batch always has room for one datagram
        }
        _peerSent?.Add(nextHop.CounterSlot, packet.Length, _now);
        return DropReason.None;
    }

    private DropReason ForwardSuperPacket(PacketBuffer packet, UnderlayBinding binding, DatagramBatch batch, in NextHop nextHop)
    {
        var encapsulation = binding.Encapsulation;
        var data = packet.Data;
        var reason = GsoSegmenter.TryPlan(data, packet.Offload, out var plan);
        if (reason != DropReason.None)
            return reason;
        if (plan.HeaderLength + plan.SegmentSize > encapsulation.MaxInnerLength)
            return DropReason.TooBig; // segments would not fit the peer's MTU: never truncated, never IP-fragmented
        reason = encapsulation.PrepareSuperPacket(data, out byte tos);
        if (reason != DropReason.None)
            return reason;

        int encapLength = encapsulation.HeaderLength;
        int ipVersion = data[0] >> 4;
        bool gso = binding.Underlay.SegmentationOffload;
        int payloadBase = packet.WindowStart + packet.Offset + plan.PayloadOffset;
        for (int i = 0; i < plan.SegmentCount; i++)
        {
            if (_arenaUsed + HeaderSlot > _arena.Length)
                Flush();
            var slot = _arena.AsSpan(_arenaUsed, HeaderSlot);
            encapsulation.WriteSegmentHeader(slot, nextHop, ipVersion);
            int headers = encapLength + GsoSegmenter.WriteSegmentHeaders(data, plan, i, slot[encapLength..]);
            var head = new DatagramBatch.Fragment(_arena, _arenaUsed, headers);
            var payload = new DatagramBatch.Fragment(packet.Array, payloadBase + i * plan.SegmentSize, plan.PayloadLengthOf(i));
            if (!batch.TryAddSegment(nextHop.Endpoint, tos, gso, head, payload))
            {
                // Flush sends and rewinds the arena: write this segment's headers again at the arena's start.
                Flush();
                i--;
                continue;
            }
            _arenaUsed += HeaderSlot;
            _peerSent?.Add(nextHop.CounterSlot, headers + payload.Length, _now);
        }
        return DropReason.None;
    }

    /// <summary>Sends every socket's pending batch and counts each message's outcome; rewinds the header arena.</summary>
    private void Flush()
    {
        foreach (var binding in _bindings)
        {
            var batch = _batches[(int)binding.Encapsulation.Kind]!;
            if (batch.IsEmpty)
                continue;
            var result = binding.Underlay.Send(batch);
            foreach (ref var m in batch.Messages)
            {
                if (result.Status == IoStatus.Closed)
                    break;
                if (m.Verdict == DropReason.None)
                    Sent.Add(m.Datagrams, m.Bytes);
                else
                    _drops.Add(m.Verdict, m.Datagrams);
            }
            batch.Clear();
        }
        _arenaUsed = 0;
    }

    private void SendNetUnreachable(Span<byte> offender, Ipv4Address unreachable)
    {
        // Source = the unreachable destination itself: any address local to the node (flannel uses the TUN's /32)
        // is dropped by the kernel as a martian when written into the TUN, and the pod never sees the error.
        _icmp.Reset();
        if (IcmpErrors.TryBuildNetUnreachable(offender, unreachable, _icmp.Writable, out int length))
            WriteIcmp(offender, length);
    }

    /// <summary>
    /// Path MTU discovery for a DF packet larger than its peer's encapsulation carries (a pod with an MTU from another
    /// backend, e.g. 1472 from udp towards a vxlan peer's 1450): the sender learns <paramref name="mtu"/> instead of
    /// losing the packet silently. Source: the destination itself, for the same reason as net-unreachable.
    /// </summary>
    private void SendFragmentationNeeded(Span<byte> offender, Ipv4Address destination, int mtu)
    {
        _icmp.Reset();
        if (IcmpErrors.TryBuildFragmentationNeeded(offender, destination, mtu, _icmp.Writable, out int length))
            WriteIcmp(offender, length);
    }

    private void WriteIcmp(Span<byte> offender, int length)
    {
        var icmp = _icmp;
        if (!Ipv4Header.TryCreate(offender, out var off, out _) || !_icmpLimiter.TryAcquire(off.SourceAddress))
            return;
        icmp.SetLength(length);
        if (_tun.Write(new Span<PacketBuffer>(ref _icmp)).IsOk && icmp.Verdict == DropReason.None)
            IcmpSent++;
    }
}

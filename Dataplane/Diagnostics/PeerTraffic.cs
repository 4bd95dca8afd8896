using System.Runtime.CompilerServices;
using Dataplane.Packets;

namespace Dataplane.Diagnostics;

/// <summary>Which way a per-peer counter block counts: to the peer (sent) or from it (received).</summary>
public enum TrafficDirection
{
    /// <summary>Datagrams handed to the socket for the peer (outbound pump).</summary>
    Sent,

    /// <summary>Datagrams received from the peer that passed the stranger check (inbound pumps).</summary>
    Received,
}

/// <summary>
/// Per-peer packet and byte counters and the time of the last packet, each way, kept on the packet path with no lock
/// and no allocation.
/// </summary>
/// <remarks>
/// <para>Slots: every peer underlay address gets a small integer slot, once, on the control plane
/// (<see cref="SlotFor"/>, under a lock, never taken by a pump). Slot 0 collects what cannot be attributed (no slot
/// yet, or more peers than <see cref="Capacity"/>). The pumps never look an address up in here: the outbound pump
/// finds the slot in the route's <see cref="Forwarding.NextHop.CounterSlot"/>, the inbound pumps get it from the
/// peer filter's lookup they make anyway. Slots are never reused, so a peer that leaves and comes back keeps its
/// counters.</para>
/// <para>Threading: each pump owns its own <see cref="PeerTrafficBlock"/> (one per direction per pump thread) and
/// increments it with plain adds; nobody else writes it. Readers (metrics, status) on other threads read racily: a
/// 64-bit read is atomic, so a value may be a few packets stale, never torn; sums over blocks are not a consistent
/// snapshot across peers, which counters need not be.</para>
/// </remarks>
public sealed class PeerTraffic
{
    /// <summary>Default number of slots: a /16 Network cut into /24s has 256 subnets; a /8 into /24s needs more.</summary>
    public const int DefaultCapacity = 4096;

    private readonly Lock _gate = new();
    private readonly Ipv4Address[] _addresses;
    private Dictionary<uint, int> _slots = new();
    private PeerTrafficBlock[] _blocks = [];
    private int _used = 1;

    /// <summary>Creates the table with room for <paramref name="capacity"/> − 1 peers (slot 0 is "unattributed").</summary>
    public PeerTraffic(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        Capacity = capacity;
        _addresses = new Ipv4Address[capacity];
    }

    /// <summary>Number of slots, slot 0 included.</summary>
    public int Capacity { get; }

    /// <summary>A new counter block for one pump thread (allocated once, at pump construction).</summary>
    public PeerTrafficBlock CreateBlock(TrafficDirection direction)
    {
        var block = new PeerTrafficBlock(direction, Capacity);
        lock (_gate)
            Volatile.Write(ref _blocks, [.. _blocks, block]);
        return block;
    }

    /// <summary>The slot of <paramref name="address"/>, assigned now if it has none (control plane; allocates).</summary>
    public int SlotFor(Ipv4Address address)
    {
        lock (_gate)
        {
            if (_slots.TryGetValue(address.Value, out int slot))
                return slot;
            if (_used == Capacity)
                return 0;
            slot = _used++;
            _addresses[slot] = address;
            var next = new Dictionary<uint, int>(_slots) { [address.Value] = slot };
            Volatile.Write(ref _slots, next);
            return slot;
        }
    }

    /// <summary>The slot of <paramref name="address"/> if it has one (any thread; lock-free).</summary>
    public bool TryGetSlot(Ipv4Address address, out int slot) => Volatile.Read(ref _slots).TryGetValue(address.Value, out slot);

    /// <summary>Totals for one peer address (zeros when it never had a slot).</summary>
    public PeerTrafficTotals Totals(Ipv4Address address) =>
        TryGetSlot(address, out int slot) ? TotalsOf(slot, address) : new PeerTrafficTotals(address, 0, 0, 0, 0, null, null);

    /// <summary>Totals for every peer that ever had a slot, in slot order (slot 0 only when it counted something).</summary>
    public IReadOnlyList<PeerTrafficTotals> Snapshot()
    {
        int used;
        lock (_gate)
            used = _used;
        var result = new List<PeerTrafficTotals>(used);
        for (int slot = 0; slot < used; slot++)
        {
            var totals = TotalsOf(slot, _addresses[slot]);
            if (slot > 0 || totals.SentPackets + totals.ReceivedPackets > 0)
                result.Add(totals);
        }
        return result;
    }

    private PeerTrafficTotals TotalsOf(int slot, Ipv4Address address)
    {
        long sp = 0, sb = 0, rp = 0, rb = 0, sLast = 0, rLast = 0;
        foreach (var block in Volatile.Read(ref _blocks))
        {
            block.Read(slot, out long packets, out long bytes, out long last);
            if (block.Direction == TrafficDirection.Sent)
            {
                sp += packets;
                sb += bytes;
                sLast = Math.Max(sLast, last);
            }
            else
            {
                rp += packets;
                rb += bytes;
                rLast = Math.Max(rLast, last);
            }
        }
        return new PeerTrafficTotals(address, sp, sb, rp, rb, ToWallClock(sLast), ToWallClock(rLast));
    }

    // The pumps stamp Environment.TickCount64 (monotonic, ms; 0 = never); shown as wall-clock time.
    private static DateTimeOffset? ToWallClock(long ticks) =>
        ticks == 0 ? null : DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(Environment.TickCount64 - ticks);
}

/// <summary>One peer's totals over every pump.</summary>
/// <param name="Address">The peer's underlay address (default for slot 0, "unattributed").</param>
/// <param name="SentPackets">Datagrams handed to the socket for it (each segment of a super-packet counts one).</param>
/// <param name="SentBytes">Their UDP payload bytes.</param>
/// <param name="ReceivedPackets">Datagrams received from it that passed the stranger check.</param>
/// <param name="ReceivedBytes">Their UDP payload bytes.</param>
/// <param name="LastSent">When the last datagram to it was handled; null if never.</param>
/// <param name="LastReceived">When the last datagram from it was received; null if never.</param>
public readonly record struct PeerTrafficTotals(
    Ipv4Address Address, long SentPackets, long SentBytes, long ReceivedPackets, long ReceivedBytes,
    DateTimeOffset? LastSent, DateTimeOffset? LastReceived);

/// <summary>
/// One pump thread's per-peer counters for one direction: a 32-byte record per slot (packets, bytes, last-seen tick),
/// owned and written by that thread only (see <see cref="PeerTraffic"/> remarks).
/// </summary>
public sealed class PeerTrafficBlock
{
    private readonly Counters[] _slots;

    internal PeerTrafficBlock(TrafficDirection direction, int capacity)
    {
        Direction = direction;
        _slots = new Counters[capacity];
    }

    /// <summary>Which way this block counts.</summary>
    public TrafficDirection Direction { get; }

    /// <summary>
    /// Counts one datagram of <paramref name="bytes"/> for <paramref name="slot"/> at <paramref name="now"/>
    /// (Environment.TickCount64, read once per batch by the pump). Owner thread only; a slot outside the block counts
    /// as slot 0. One bounds check, three plain stores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int slot, int bytes, long now)
    {
        var slots = _slots;
        if ((uint)slot >= (uint)slots.Length)
            slot = 0;
        ref var c = ref slots[slot];
        c.Packets++;
        c.Bytes += bytes;
        c.Last = now;
    }

    internal void Read(int slot, out long packets, out long bytes, out long last)
    {
        ref var c = ref _slots[slot];
        packets = Volatile.Read(ref c.Packets);
        bytes = Volatile.Read(ref c.Bytes);
        last = Volatile.Read(ref c.Last);
    }

    // Padded to 32 bytes, so a slot touches at most two cache lines.
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Size = 32)]
    private struct Counters
    {
        public long Packets;
        public long Bytes;
        public long Last;
    }
}

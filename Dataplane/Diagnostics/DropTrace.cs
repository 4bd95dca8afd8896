using Dataplane.Packets;

namespace Dataplane.Diagnostics;

/// <summary>What the bytes of a traced drop are, so a reader can decode them.</summary>
public enum TracedLayer : byte
{
    /// <summary>An IPv4 (or other IP) packet as read from the TUN.</summary>
    TunPacket,

    /// <summary>A flannel-udp datagram's payload, as received (the bare inner IPv4 packet).</summary>
    FlannelUdpPayload,

    /// <summary>A VXLAN datagram's payload, as received (VXLAN header, inner Ethernet frame).</summary>
    VxlanPayload,
}

/// <summary>One traced drop, copied out of the ring by a reader.</summary>
/// <param name="Sequence">Position in the trace (gaps mean the reader fell behind or was rate-limited).</param>
/// <param name="Time">When it was dropped.</param>
/// <param name="Reason">Why.</param>
/// <param name="Layer">What <paramref name="Bytes"/> holds.</param>
/// <param name="Peer">The underlay sender (inbound) or zero (outbound).</param>
/// <param name="OriginalLength">The dropped packet's full length; <paramref name="Bytes"/> holds at most <see cref="DropTrace.SnapLength"/>.</param>
/// <param name="Bytes">The first bytes of the packet.</param>
public sealed record TracedDrop(long Sequence, DateTimeOffset Time, DropReason Reason, TracedLayer Layer, UnderlayEndpoint Peer,
    int OriginalLength, byte[] Bytes);

/// <summary>
/// Dropped packets as they happen, for <c>dataplane drops --follow</c>: a fixed ring of preallocated slots that the
/// pumps fill only while someone follows, at a bounded rate.
/// </summary>
/// <remarks>
/// <para>Cost while nobody follows: the pumps test <see cref="Active"/> (one volatile read) on the drop path only.
/// While followed: at most <see cref="MaxPerSecond"/> drops a second are copied (the first <see cref="SnapLength"/>
/// bytes, into a slot allocated once); the rest are only counted, as every drop is, by <see cref="DropCounters"/>.
/// Never allocates on the packet path.</para>
/// <para>Threading: any number of writers (each pump thread) and readers. A writer claims a sequence number with one
/// interlocked add and publishes its slot seqlock-style (slot sequence −1 while writing, then the claimed number); a
/// reader copies a slot and keeps the copy only if the slot's sequence was the one it expected before and after the
/// copy. A reader that falls more than a ring behind skips ahead (and sees the gap in <see cref="TracedDrop.Sequence"/>).
/// Two writers meet in one slot only if the ring wraps within one write (the rate bound makes that rare): a writer takes
/// the slot with a compare-and-swap, so records are never torn, and an older record never replaces a newer one.</para>
/// </remarks>
public sealed class DropTrace
{
    /// <summary>Bytes of each dropped packet kept: enough for outer and inner headers.</summary>
    public const int SnapLength = 128;

    private readonly Slot[] _slots;
    private readonly int _mask;
    private int _followers;
    private long _next;
    private long _windowSecond;
    private int _inWindow;

    /// <summary>Creates a ring of <paramref name="capacity"/> slots (a power of two).</summary>
    public DropTrace(int capacity = 256, int maxPerSecond = 100)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), "a power of two, at least 2");
        _slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++)
            _slots[i] = new Slot();
        _mask = capacity - 1;
        MaxPerSecond = maxPerSecond;
    }

    /// <summary>Most drops copied into the ring per second (all followers together).</summary>
    public int MaxPerSecond { get; }

    /// <summary>Ring size.</summary>
    public int Capacity => _slots.Length;

    /// <summary>True while at least one reader follows: the pumps' one check before <see cref="Record"/>.</summary>
    public bool Active => Volatile.Read(ref _followers) != 0;

    /// <summary>Drops left out because of the rate bound while someone followed.</summary>
    public long RateLimited => Volatile.Read(ref _rateLimited);

    private long _rateLimited;

    /// <summary>
    /// Copies one drop into the ring if the rate allows (call only when <see cref="Active"/>; any thread; no
    /// allocation).
    /// </summary>
    public void Record(DropReason reason, TracedLayer layer, UnderlayEndpoint peer, ReadOnlySpan<byte> packet)
    {
        long second = Environment.TickCount64 / 1000;
        if (Volatile.Read(ref _windowSecond) != second)
        {
            // Racy reset between writers: at worst a few extra records in the second the window turns.
            Volatile.Write(ref _windowSecond, second);
            Volatile.Write(ref _inWindow, 0);
        }
        if (Interlocked.Increment(ref _inWindow) > MaxPerSecond)
        {
            Interlocked.Increment(ref _rateLimited);
            return;
        }
        long sequence = Interlocked.Increment(ref _next) - 1;
        var slot = _slots[sequence & _mask];
        // Take the slot (sequence −1 = being written). Another writer may hold it when the ring wrapped within one
        // write (only without a rate bound): wait for it, and give up if it published a newer record there.
        var spin = default(SpinWait);
        while (true)
        {
            long observed = Volatile.Read(ref slot.Sequence);
            if (observed >= sequence)
                return;
            if (observed != -1 && Interlocked.CompareExchange(ref slot.Sequence, -1, observed) == observed)
                break;
            spin.SpinOnce(sleep1Threshold: -1);
        }
        int length = Math.Min(packet.Length, SnapLength);
        packet[..length].CopyTo(slot.Bytes);
        slot.Length = length;
        slot.OriginalLength = packet.Length;
        slot.Reason = reason;
        slot.Layer = layer;
        slot.Peer = peer;
        slot.TimeTicks = DateTime.UtcNow.Ticks;
        Volatile.Write(ref slot.Sequence, sequence);
    }

    /// <summary>Starts following: the pumps record drops until the returned reader is disposed.</summary>
    public Reader Follow() => new(this);

    /// <summary>One follower's position in the ring. Single-threaded; dispose to stop following.</summary>
    public sealed class Reader : IDisposable
    {
        private readonly DropTrace _trace;
        private long _cursor;
        private bool _disposed;

        internal Reader(DropTrace trace)
        {
            _trace = trace;
            _cursor = Volatile.Read(ref trace._next);
            Interlocked.Increment(ref trace._followers);
        }

        /// <summary>Records lost because this reader fell a ring behind or a slot was overwritten mid-copy.</summary>
        public long Missed { get; private set; }

        /// <summary>The next traced drop, or null when there is none yet.</summary>
        public TracedDrop? TryRead()
        {
            var trace = _trace;
            while (true)
            {
                long next = Volatile.Read(ref trace._next);
                if (_cursor >= next)
                    return null;
                if (next - _cursor > trace._slots.Length)
                {
                    Missed += next - trace._slots.Length - _cursor;
                    _cursor = next - trace._slots.Length;
                }
                var slot = trace._slots[_cursor & trace._mask];
                long before = Volatile.Read(ref slot.Sequence);
                if (before < _cursor && before != -1)
                    return null; // claimed but not yet published: come back later
                if (before != _cursor)
                {
                    if (before == -1 && next - _cursor < trace._slots.Length)
                        return null; // being written now
                    Missed++;
                    _cursor++;
                    continue;
                }
                var bytes = slot.Bytes.AsSpan(0, slot.Length).ToArray();
                var drop = new TracedDrop(_cursor, new DateTimeOffset(slot.TimeTicks, TimeSpan.Zero), slot.Reason, slot.Layer, slot.Peer,
                    slot.OriginalLength, bytes);
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref slot.Sequence) != _cursor)
                {
                    Missed++; // overwritten while we copied
                    _cursor++;
                    continue;
                }
                _cursor++;
                return drop;
            }
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            Interlocked.Decrement(ref _trace._followers);
        }
    }

    private sealed class Slot
    {
        public long Sequence = -2;
        public readonly byte[] Bytes = new byte[SnapLength];
        public int Length;
        public int OriginalLength;
        public DropReason Reason;
        public TracedLayer Layer;
        public UnderlayEndpoint Peer;
        public long TimeTicks;
    }
}

using System.Diagnostics.CodeAnalysis;
using Dataplane.Diagnostics;

namespace Dataplane.Buffers;

/// <summary>
/// A fixed set of <see cref="PacketBuffer"/>s carved from pinned slabs allocated once, lent out and taken
/// back without locks or allocation. When every buffer is out, <see cref="TryRent"/> fails at once and
/// counts <see cref="DropReason.PoolExhausted"/>: it never blocks and never grows.
/// </summary>
/// <remarks>
/// <para>Ownership: <see cref="TryRent"/> transfers ownership of a buffer to the caller; <see cref="Return"/>
/// takes it back. Between the two the caller (or whoever it hands the buffer to, saying so in its docs)
/// is the only user. Returning a buffer twice is a bug; DEBUG builds throw
/// <see cref="InvalidOperationException"/> on it, Release builds do not check (it costs an interlocked op).</para>
/// <para>Concurrency: any number of threads may rent and return concurrently (pumps run one thread per
/// direction and a buffer received on one may be released on the other). The free list is a Treiber
/// stack of buffer indices whose head packs a 32-bit version tag with the index into one 64-bit word:
/// every push and pop bumps the tag, so a pop that read a stale "next" (the ABA case: the head was popped
/// and pushed back meanwhile) fails its compare-and-swap and retries. The links live in an int array
/// allocated once, so rent and return allocate nothing. LIFO order also hands back the most recently
/// used, cache-warm buffer first.</para>
/// <para>Headroom: every rented buffer is reset to <see cref="Headroom"/> bytes of headroom, so
/// encapsulation can prepend its headers in place.</para>
/// </remarks>
public sealed class PacketBufferPool
{
    /// <summary>Default bytes per buffer: headroom plus a 1500-byte frame plus slack, rounded to 2 KiB.</summary>
    public const int DefaultBufferSize = 2048;

    /// <summary>
    /// Bytes per buffer of the large class: a 64 KiB offload super-packet (TSO/USO read from the TUN, or a GRO'd
    /// datagram) plus its 10-byte virtio_net_hdr and the default headroom. Pools of this class are small and fixed
    /// (a pump's batch), never grown: 64 of them are 4.2 MiB.
    /// </summary>
    public const int LargeBufferSize = 65536 + 128;

    // Each slab stays well below the array length limit; most pools fit one slab.
    private const int MaxSlabBytes = 1 << 30;
    private const uint EmptyIndex = uint.MaxValue;

    private readonly PacketBuffer[] _buffers;
    private readonly int[] _next;
    private readonly DropCounters _drops;
#if DEBUG
    // 1 while the buffer sits in the free list; guards against double returns.
    private readonly int[] _inPool;
#endif

    // (version tag << 32) | index of the top free buffer (EmptyIndex when none).
    private ulong _head;

    /// <summary>Allocates <paramref name="capacity"/> buffers of <paramref name="bufferSize"/> bytes up front.</summary>
    /// <param name="capacity">Number of buffers; the pool never holds more or fewer.</param>
    /// <param name="bufferSize">Bytes per buffer (rounded up to a multiple of 64 so buffers start on cache lines).</param>
    /// <param name="headroom">Headroom each rented buffer starts with.</param>
    /// <param name="drops">Counters that receive <see cref="DropReason.PoolExhausted"/>; a private instance when null.</param>
    public PacketBufferPool(int capacity, int bufferSize = DefaultBufferSize, int headroom = PacketBuffer.DefaultHeadroom, DropCounters? drops = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegative(headroom);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(bufferSize, headroom);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bufferSize, MaxSlabBytes);

        int stride = (bufferSize + 63) & ~63;
        BufferSize = bufferSize;
        Headroom = headroom;
        _drops = drops ?? new DropCounters();
        _buffers = new PacketBuffer[capacity];
        _next = new int[capacity];
#if DEBUG
        _inPool = new int[capacity];
#endif
        int perSlab = Math.Max(1, MaxSlabBytes / stride);
        byte[] slab = [];
        for (int i = 0; i < capacity; i++)
        {
            int slot = i % perSlab;
            if (slot == 0)
                slab = GC.AllocateUninitializedArray<byte>(Math.Min(perSlab, capacity - i) * stride, pinned: true);
            _buffers[i] = new PacketBuffer(slab, slot * stride, bufferSize, headroom) { Pool = this, PoolIndex = i };
            _next[i] = i + 1 < capacity ? i + 1 : unchecked((int)EmptyIndex);
#if DEBUG
            _inPool[i] = 1;
#endif
        }
        _head = 0;
    }

    /// <summary>Number of buffers the pool owns.</summary>
    public int Capacity => _buffers.Length;

    /// <summary>Usable bytes per buffer (headroom included).</summary>
    public int BufferSize { get; }

    /// <summary>Headroom a rented buffer starts with.</summary>
    public int Headroom { get; }

    /// <summary>Where exhaustion is counted.</summary>
    public DropCounters Drops => _drops;

    /// <summary>
    /// Takes a free buffer, reset to <see cref="Headroom"/> bytes of headroom and length 0. The caller owns
    /// it until it passes it to <see cref="Return"/>. Lock-free and allocation-free.
    /// </summary>
    /// <returns>False, counting one <see cref="DropReason.PoolExhausted"/>, when every buffer is out.</returns>
    public bool TryRent([NotNullWhen(true)] out PacketBuffer? buffer)
    {
        if (TryRentUncounted(out buffer))
            return true;
        _drops.Increment(DropReason.PoolExhausted);
        return false;
    }

    /// <summary>As <see cref="TryRent"/> but without counting a drop (refilling a batch is not losing a packet).</summary>
    internal bool TryRentUncounted([NotNullWhen(true)] out PacketBuffer? buffer)
    {
        ulong head = Volatile.Read(ref _head);
        int index;
        while (true)
        {
            if ((uint)head == EmptyIndex)
            {
                buffer = null;
                return false;
            }
            index = (int)(uint)head;
            // May be stale if another thread pops and re-pushes this index meanwhile; the tag then differs
            // and the CAS below fails.
            uint next = (uint)Volatile.Read(ref _next[index]);
            ulong seen = Interlocked.CompareExchange(ref _head, NextTag(head) | next, head);
            if (seen == head)
                break;
            head = seen;
        }
#if DEBUG
        Volatile.Write(ref _inPool[index], 0);
#endif
        buffer = _buffers[index];
        buffer.Reset(Headroom);
        return true;
    }

    /// <summary>
    /// Gives a buffer back (takes ownership). The caller must not touch it afterwards.
    /// Lock-free and allocation-free.
    /// </summary>
    /// <exception cref="ArgumentException">The buffer belongs to another pool (or none).</exception>
    /// <exception cref="InvalidOperationException">DEBUG builds only: the buffer is already in the pool.</exception>
    public void Return(PacketBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!ReferenceEquals(buffer.Pool, this))
            ThrowForeign();
        int index = buffer.PoolIndex;
#if DEBUG
        if (Interlocked.Exchange(ref _inPool[index], 1) != 0)
            throw new InvalidOperationException($"PacketBuffer #{index} returned to the pool twice.");
#endif
        ulong head = Volatile.Read(ref _head);
        while (true)
        {
            // Plain write: the buffer is not in the list yet, and the CAS publishes it (full fence).
            _next[index] = (int)(uint)head;
            ulong seen = Interlocked.CompareExchange(ref _head, NextTag(head) | (uint)index, head);
            if (seen == head)
                return;
            head = seen;
        }
    }

    /// <summary>
    /// Counts the free buffers by walking the free list. Exact only while no other thread rents or returns
    /// (tests, shutdown checks); otherwise an estimate. O(free buffers).
    /// </summary>
    public int CountAvailable()
    {
        int count = 0;
        uint index = (uint)Volatile.Read(ref _head);
        while (index != EmptyIndex && count < _buffers.Length)
        {
            count++;
            index = (uint)Volatile.Read(ref _next[index]);
        }
        return count;
    }

    private static ulong NextTag(ulong head) => ((head >> 32) + 1) << 32;

    [DoesNotReturn]
    private static void ThrowForeign() =>
        throw new ArgumentException("The buffer does not belong to this pool.", "buffer");
}

namespace Dataplane.Buffers;

/// <summary>
/// A reusable, fixed-capacity list of packet buffers for batch I/O: one per pump, allocated once, refilled
/// and drained every iteration without allocating.
/// </summary>
/// <remarks>
/// Ownership: the batch owns the buffers it holds. <see cref="TryAdd"/> and <see cref="RentFrom"/> give it
/// ownership; <see cref="ReturnTo"/> passes every buffer back to a pool; <see cref="AsSpan"/> and the
/// indexer lend them (a device reading into or writing from the span borrows). <see cref="Clear"/> forgets
/// the buffers without returning them, for when their ownership has moved elsewhere.
/// Not thread-safe: a batch belongs to one pump thread.
/// </remarks>
public sealed class PacketBatch
{
    private readonly PacketBuffer[] _items;

    /// <summary>Creates an empty batch that can hold <paramref name="capacity"/> buffers.</summary>
    public PacketBatch(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _items = new PacketBuffer[capacity];
    }

    /// <summary>Most buffers the batch holds.</summary>
    public int Capacity => _items.Length;

    /// <summary>Buffers currently held.</summary>
    public int Count { get; private set; }

    /// <summary>True when <see cref="Count"/> equals <see cref="Capacity"/>.</summary>
    public bool IsFull => Count == _items.Length;

    /// <summary>The buffer at <paramref name="index"/> (lent, still owned by the batch).</summary>
    public PacketBuffer this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return _items[index];
        }
    }

    /// <summary>
    /// The held buffers, lent. Elements may be swapped for other buffers (e.g. hand one on and put a fresh
    /// one in its place); the batch then owns the replacements.
    /// </summary>
    public Span<PacketBuffer> AsSpan() => _items.AsSpan(0, Count);

    /// <summary>Appends <paramref name="buffer"/>, taking ownership. False (ownership stays with the caller) when full.</summary>
    public bool TryAdd(PacketBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (Count == _items.Length)
            return false;
        _items[Count++] = buffer;
        return true;
    }

    /// <summary>
    /// Rents buffers from <paramref name="pool"/> until the batch is full or the pool is empty; returns how
    /// many were added. A short refill is not counted as a drop (no packet was lost yet): the caller decides.
    /// </summary>
    public int RentFrom(PacketBufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        int added = 0;
        while (Count < _items.Length && pool.TryRentUncounted(out var buffer))
        {
            _items[Count++] = buffer;
            added++;
        }
        return added;
    }

    /// <summary>Returns every held buffer to <paramref name="pool"/> and empties the batch.</summary>
    public void ReturnTo(PacketBufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        for (int i = 0; i < Count; i++)
        {
            pool.Return(_items[i]);
            _items[i] = null!;
        }
        Count = 0;
    }

    /// <summary>Empties the batch without returning the buffers (their ownership has moved elsewhere).</summary>
    public void Clear()
    {
        Array.Clear(_items, 0, Count);
        Count = 0;
    }
}

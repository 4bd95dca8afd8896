using Dataplane.Diagnostics;
using Dataplane.Offload;
using Dataplane.Packets;

namespace Dataplane.Buffers;

/// <summary>
/// One packet's storage: a fixed window of a pinned slab with a movable start, so encapsulation prepends
/// headers into headroom and decapsulation strips them, both without copying.
/// </summary>
/// <remarks>
/// Layout inside the window: <c>[headroom | Data (Offset, Length) | tailroom]</c>.
/// The backing array is pinned (Pinned Object Heap), so interop may take its address once and keep it.
/// A buffer has exactly one owner at a time; the APIs that take one say whether they borrow it or take it.
/// </remarks>
public sealed class PacketBuffer
{
    /// <summary>Headroom a read leaves by default: enough for every encapsulation we prepend (VXLAN: 8 + 14).</summary>
    public const int DefaultHeadroom = 64;

    private byte[] _array;
    private int _start;
    private int _capacity;

    /// <summary>Creates a standalone buffer with its own pinned array (tests and tools; the packet path rents from a pool).</summary>
    public PacketBuffer(int capacity, int headroom = DefaultHeadroom)
        : this(GC.AllocateUninitializedArray<byte>(capacity, pinned: true), 0, capacity, headroom)
    {
    }

    /// <summary>Wraps a window <c>[start, start + capacity)</c> of a pinned slab.</summary>
    internal PacketBuffer(byte[] slab, int start, int capacity, int headroom = DefaultHeadroom)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + capacity, slab.Length);
        _array = slab;
        _start = start;
        _capacity = capacity;
        Reset(headroom);
    }

    /// <summary>The pool this buffer belongs to (null for a standalone buffer); set once by the pool.</summary>
    internal PacketBufferPool? Pool { get; init; }

    /// <summary>This buffer's index in <see cref="Pool"/> (its free-list slot); meaningless without a pool.</summary>
    internal int PoolIndex { get; init; }

    /// <summary>The backing (pinned) array.</summary>
    public byte[] Array => _array;

    /// <summary>Index in <see cref="Array"/> where this buffer's window begins.</summary>
    public int WindowStart => _start;

    /// <summary>Size of the window.</summary>
    public int Capacity => _capacity;

    /// <summary>Offset of the packet's first byte within the window.</summary>
    public int Offset { get; private set; }

    /// <summary>Number of packet bytes.</summary>
    public int Length { get; private set; }

    /// <summary>Bytes free before the packet.</summary>
    public int Headroom => Offset;

    /// <summary>The packet bytes.</summary>
    public Span<byte> Data => _array.AsSpan(_start + Offset, Length);

    /// <summary>Everything from <see cref="Offset"/> to the end of the window: where a read lands.</summary>
    public Span<byte> Writable => _array.AsSpan(_start + Offset, _capacity - Offset);

    /// <summary>Underlay peer: the sender of a received datagram, or the destination of one to send.</summary>
    public UnderlayEndpoint Peer { get; set; }

    /// <summary>
    /// Outer IPv4 TOS byte the encapsulation wants for this datagram (VXLAN copies the inner ECN bits, as the
    /// kernel does); the underlay applies it per packet where it can. 0 for flannel-udp.
    /// </summary>
    public byte OuterTos { get; set; }

    /// <summary>
    /// What the offload header said about this packet: read from a TUN with IFF_VNET_HDR (a TSO/USO super-packet to
    /// split, or a partial checksum to complete), or what to tell the TUN on write. Default (all zero) is a plain
    /// packet with a complete checksum.
    /// </summary>
    public VirtioNetHeader Offload { get; set; }

    /// <summary>
    /// The packet's fate in the current batch: <see cref="DropReason.None"/> while it is still moving, otherwise why it
    /// was dropped. A stage skips packets that already have a verdict; devices set <see cref="DropReason.IoError"/> (or
    /// <see cref="DropReason.TooBig"/> for a truncated datagram) on the ones the kernel refused; the pump counts each
    /// verdict once at the end of the batch.
    /// </summary>
    public DropReason Verdict { get; set; }

    /// <summary>
    /// Re-points this buffer at another window of a pinned array, holding <paramref name="length"/> bytes at
    /// <paramref name="offset"/> (a view: used to walk the datagrams of a GRO train in place, one at a time; the owner of
    /// the array keeps it alive and must not touch the window while the view is in use). Keeps Peer; clears the rest.
    /// </summary>
    internal void Rebind(byte[] array, int start, int capacity, int offset, int length)
    {
        _array = array;
        _start = start;
        _capacity = capacity;
        Offset = offset;
        Length = length;
        OuterTos = 0;
        Offload = default;
        Verdict = DropReason.None;
    }

    /// <summary>Empties the buffer and puts the packet start <paramref name="headroom"/> bytes into the window.</summary>
    public void Reset(int headroom = DefaultHeadroom)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(headroom, _capacity);
        Offset = headroom;
        Length = 0;
        Peer = default;
        OuterTos = 0;
        Offload = default;
        Verdict = DropReason.None;
    }

    /// <summary>Sets the packet length after a read into <see cref="Writable"/>.</summary>
    public void SetLength(int length)
    {
        if ((uint)length > (uint)(_capacity - Offset))
            ThrowOutOfRange(nameof(length));
        Length = length;
    }

    /// <summary>Grows the packet at the front by <paramref name="count"/> bytes and returns them.</summary>
    /// <remarks>The caller ensures the headroom suffices (encapsulations declare their header length).</remarks>
    public Span<byte> Prepend(int count)
    {
        if ((uint)count > (uint)Offset)
            ThrowOutOfRange(nameof(count));
        Offset -= count;
        Length += count;
        return _array.AsSpan(_start + Offset, count);
    }

    /// <summary>Removes <paramref name="count"/> bytes from the front of the packet.</summary>
    public void TrimStart(int count)
    {
        if ((uint)count > (uint)Length)
            ThrowOutOfRange(nameof(count));
        Offset += count;
        Length -= count;
    }

    /// <summary>Copies <paramref name="packet"/> in at the current offset (tests and slow paths).</summary>
    public void Load(ReadOnlySpan<byte> packet)
    {
        packet.CopyTo(Writable);
        Length = packet.Length;
    }

    private static void ThrowOutOfRange(string name) => throw new ArgumentOutOfRangeException(name);
}

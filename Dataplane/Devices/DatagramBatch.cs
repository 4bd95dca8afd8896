using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Devices;

/// <summary>
/// The outgoing side of one <see cref="IUnderlay.Send"/>: a vector of messages (one sendmmsg(2) on Linux), each a
/// single datagram or a GSO train of datagrams of equal size for one peer (UDP_SEGMENT; the last may be shorter), each
/// datagram gathered from one or two fragments of pinned memory (headers and payload in separate iovecs: a TSO split
/// never copies its payload to prepend headers).
/// </summary>
/// <remarks>
/// <para>Limits follow the kernel's for one GSO message (net/ipv4/udp.c udp_send_skb): at most
/// <see cref="MaxSegments"/> datagrams and <see cref="MaxGsoPayload"/> bytes of UDP payload. A message of one datagram
/// carries no UDP_SEGMENT at all.</para>
/// <para>Ownership: fragments point into memory the caller keeps alive and unchanged until <see cref="IUnderlay.Send"/>
/// returns (a pump's own buffers and header arena). Every array must be pinned (PacketBuffer slabs and
/// <c>GC.AllocateArray(pinned: true)</c> are), because the Linux underlay passes raw addresses to the kernel.</para>
/// <para>Allocation-free after construction; not thread-safe (one per pump and socket).</para>
/// </remarks>
public sealed class DatagramBatch
{
    /// <summary>Most datagrams in one GSO message (UDP_MAX_SEGMENTS: 64 since Linux 4.18; later kernels take 128).</summary>
    public const int MaxSegments = 64;

    /// <summary>Most UDP payload bytes in one GSO message: 65535 − 20 (IPv4) − 8 (UDP).</summary>
    public const int MaxGsoPayload = 65507;

    private readonly Message[] _messages;
    private readonly Fragment[] _fragments;
    private int _fragmentCount;

    /// <summary>Creates an empty batch for up to <paramref name="maxMessages"/> messages and <paramref name="maxFragments"/> fragments.</summary>
    public DatagramBatch(int maxMessages = 64, int maxFragments = 2048)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessages);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFragments, 2);
        _messages = new Message[maxMessages];
        _fragments = new Fragment[maxFragments];
    }

    /// <summary>One contiguous piece of a datagram.</summary>
    public readonly record struct Fragment(byte[] Array, int Offset, int Length);

    /// <summary>One message: a datagram, or a GSO train of <see cref="Datagrams"/> datagrams of <see cref="SegmentSize"/> bytes.</summary>
    public struct Message
    {
        /// <summary>Destination.</summary>
        public UnderlayEndpoint Peer;
        /// <summary>Outer TOS byte for every datagram of the message (0: the socket default).</summary>
        public byte Tos;
        /// <summary>Size of each datagram but the last (which may be shorter).</summary>
        public int SegmentSize;
        /// <summary>Index of the first fragment in <see cref="Fragments"/>.</summary>
        public int FirstFragment;
        /// <summary>Fragments of all datagrams, in order.</summary>
        public int FragmentCount;
        /// <summary>Fragments per datagram (the same for each: 1 or 2), so a sender that must fall back can cut datagrams out.</summary>
        public int FragmentsPerDatagram;
        /// <summary>Datagrams in the message.</summary>
        public int Datagrams;
        /// <summary>UDP payload bytes in all.</summary>
        public int Bytes;
        /// <summary>True once a shorter datagram closed the train.</summary>
        public bool Closed;
        /// <summary>Set by the underlay: None when sent, otherwise why not (IoError).</summary>
        public DropReason Verdict;
        /// <summary>Set by the underlay: errno of a failed send.</summary>
        public int Errno;
    }

    /// <summary>Messages in the batch.</summary>
    public int Count { get; private set; }

    /// <summary>True when nothing was added since <see cref="Clear"/>.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>Most messages the batch holds.</summary>
    public int MaxMessages => _messages.Length;

    /// <summary>The messages (the underlay sets their verdicts).</summary>
    public Span<Message> Messages => _messages.AsSpan(0, Count);

    /// <summary>All fragments; a message's are <c>[FirstFragment, FirstFragment + FragmentCount)</c>.</summary>
    public ReadOnlySpan<Fragment> Fragments => _fragments.AsSpan(0, _fragmentCount);

    /// <summary>
    /// Adds <paramref name="packet"/>'s <see cref="PacketBuffer.Data"/> as one datagram to its
    /// <see cref="PacketBuffer.Peer"/> with its <see cref="PacketBuffer.OuterTos"/>, never merged with another. False when
    /// the batch is full (send it and retry).
    /// </summary>
    public bool TryAdd(PacketBuffer packet) =>
        TryAddSegment(packet.Peer, packet.OuterTos, allowGso: false,
            new Fragment(packet.Array, packet.WindowStart + packet.Offset, packet.Length), default);

    /// <summary>
    /// Appends one datagram (<paramref name="first"/> followed by <paramref name="second"/>, which may be empty) for
    /// <paramref name="peer"/>. With <paramref name="allowGso"/> it joins the open message when the kernel's rules allow
    /// (same peer and TOS, same fragment layout, not longer than the train's segment size, within
    /// <see cref="MaxSegments"/> and <see cref="MaxGsoPayload"/>; a shorter datagram closes the train), otherwise it
    /// opens a new message. False when the batch has no room (send it, clear, retry).
    /// </summary>
    public bool TryAddSegment(UnderlayEndpoint peer, byte tos, bool allowGso, Fragment first, Fragment second)
    {
        int fragments = second.Length > 0 ? 2 : 1;
        int length = first.Length + second.Length;
        if (_fragmentCount + fragments > _fragments.Length)
            return false;
        if (allowGso && Count > 0)
        {
            ref var open = ref _messages[Count - 1];
            if (!open.Closed && open.SegmentSize > 0 && open.Peer == peer && open.Tos == tos && open.FragmentsPerDatagram == fragments
                && length <= open.SegmentSize && open.Datagrams < MaxSegments && open.Bytes + length <= MaxGsoPayload)
            {
                Append(first, second, fragments);
                open.FragmentCount += fragments;
                open.Datagrams++;
                open.Bytes += length;
                open.Closed = length < open.SegmentSize;
                return true;
            }
        }
        if (Count == _messages.Length)
            return false;
        _messages[Count++] = new Message
        {
            Peer = peer,
            Tos = tos,
            SegmentSize = length,
            FirstFragment = _fragmentCount,
            FragmentCount = fragments,
            FragmentsPerDatagram = fragments,
            Datagrams = 1,
            Bytes = length,
            Closed = !allowGso,
        };
        Append(first, second, fragments);
        return true;
    }

    /// <summary>Empties the batch (fragments are forgotten, not freed: the caller owns their memory).</summary>
    public void Clear()
    {
        // The fragment slots keep their array references until overwritten: those are the pump's own long-lived pinned
        // slabs, so clearing them would cost a loop per batch for nothing.
        Count = 0;
        _fragmentCount = 0;
    }

    private void Append(Fragment first, Fragment second, int fragments)
    {
        _fragments[_fragmentCount++] = first;
        if (fragments == 2)
            _fragments[_fragmentCount++] = second;
    }
}

using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Forwarding;

namespace Dataplane.Encapsulation;

/// <summary>
/// One wire format. Implementations are sealed, immutable after construction, allocation-free and safe to
/// share between the two pump threads. The outer IPv4/UDP header is never built here: the kernel's UDP socket
/// writes it, so "encapsulated" means "the UDP payload".
/// </summary>
/// <remarks>
/// Buffer ownership: both methods borrow the buffer for the duration of the call and modify it in place;
/// the caller keeps ownership. On a drop the buffer content is unspecified and the caller recycles it.
/// </remarks>
public interface IEncapsulation
{
    /// <summary>Which format this is.</summary>
    EncapsulationKind Kind { get; }

    /// <summary>Bytes prepended inside the UDP payload (flannel-udp 0; VXLAN 8 + 14).</summary>
    int HeaderLength { get; }

    /// <summary>Bytes added on the wire per packet, outer IPv4 (20) and UDP (8) included: 28 or 50.</summary>
    int Overhead { get; }

    /// <summary>Largest inner IP packet sent or accepted: the overlay device's MTU.</summary>
    int MaxInnerLength { get; }

    /// <summary>Default UDP port (flannel-udp 8285, VXLAN 8472 as Linux and flannel use; IANA's is 4789).</summary>
    ushort DefaultPort { get; }

    /// <summary>
    /// Turns the inner IP packet in <paramref name="packet"/> into the UDP payload for <paramref name="nextHop"/>,
    /// prepending into headroom, and sets <see cref="PacketBuffer.Peer"/> (and <see cref="PacketBuffer.OuterTos"/>).
    /// Returns <see cref="DropReason.None"/> or why the packet must be dropped. Never throws on packet content.
    /// </summary>
    DropReason Encapsulate(PacketBuffer packet, in NextHop nextHop);

    /// <summary>
    /// Validates a received UDP payload and leaves exactly the inner IP packet in <paramref name="packet"/>.
    /// Returns <see cref="DropReason.None"/> or why it must be dropped. Never throws on packet content.
    /// </summary>
    DropReason Decapsulate(PacketBuffer packet);

    /// <summary>
    /// The segment path (a TSO/USO super-packet split into segments that each fit <see cref="MaxInnerLength"/>):
    /// validates the inner packet's IP header as <see cref="Encapsulate"/> does, except its total length, and applies
    /// the per-packet changes to it in place (flannel-udp: the TTL decrement), so that every segment's headers, copied
    /// from it, carry them. Sets <paramref name="outerTos"/> for all its segments. Never throws on packet content.
    /// </summary>
    DropReason PrepareSuperPacket(Span<byte> inner, out byte outerTos);

    /// <summary>
    /// Writes this format's <see cref="HeaderLength"/> header bytes for one segment (inner IP version
    /// <paramref name="ipVersion"/>) to <paramref name="nextHop"/> into <paramref name="destination"/>.
    /// </summary>
    void WriteSegmentHeader(Span<byte> destination, in NextHop nextHop, int ipVersion);
}

namespace Dataplane.Diagnostics;

/// <summary>
/// Why a packet was dropped. Every drop on the packet path has exactly one reason and bumps its counter
/// in <see cref="DropCounters"/>; nothing on the packet path throws.
/// </summary>
public enum DropReason
{
    /// <summary>Not dropped.</summary>
    None = 0,

    // ---- malformed input (checked construction failed) ----
    /// <summary>Shorter than the header that must be there.</summary>
    Truncated,
    /// <summary>IP version nibble is not what the encapsulation carries (4, or 6 where allowed).</summary>
    BadIpVersion,
    /// <summary>IPv4 IHL below 5 or beyond the packet.</summary>
    BadIpHeaderLength,
    /// <summary>IPv4 total length / IPv6 payload length disagrees with the bytes received.</summary>
    BadTotalLength,

    // ---- VXLAN receive checks (as strict as the Linux kernel, vxlan_core.c vxlan_rcv) ----
    /// <summary>VXLAN I flag clear, or any other flag / reserved bit set (SKB_DROP_REASON_VXLAN_INVALID_HDR).</summary>
    VxlanInvalidHeader,
    /// <summary>VNI is not ours (VXLAN_VNI_NOT_FOUND).</summary>
    VniMismatch,
    /// <summary>Inner destination MAC is not our VTEP MAC (kernel: PACKET_OTHERHOST, never delivered to IP).</summary>
    InnerDestinationNotOurs,
    /// <summary>Inner source MAC equals our own VTEP MAC (SKB_DROP_REASON_LOCAL_MAC).</summary>
    InnerSourceIsOurs,
    /// <summary>Inner frame is neither IPv4 nor IPv6 (nor an ARP request we answer).</summary>
    UnsupportedEtherType,

    // ---- forwarding ----
    /// <summary>TTL reached 0 on decrement.</summary>
    TtlExpired,
    /// <summary>No route for the destination (an ICMP net-unreachable may be sent instead).</summary>
    NoRoute,
    /// <summary>Larger than the MTU of the device it would be written to; never truncated.</summary>
    TooBig,
    /// <summary>Datagram from an underlay address that holds no lease.</summary>
    UnknownSource,
    /// <summary>No free buffer in the pool.</summary>
    PoolExhausted,
    /// <summary>The kernel refused the send or write.</summary>
    IoError,
    /// <summary>Other layer-2 traffic we do not handle (VXLAN mode).</summary>
    UnsupportedL2,

    // ---- TUN offload (virtio_net_hdr in front of each packet; Dataplane.Offload) ----
    /// <summary>
    /// The virtio_net_hdr disagrees with the packet: GSO type vs IP version or protocol, csum_start not at the
    /// transport header, csum_offset not the L4 checksum field, gso_size 0, GSO without NEEDS_CSUM, a fragment.
    /// </summary>
    BadOffloadHeader,
    /// <summary>An offload we do not segment: legacy UFO (gso_type 3), unknown GSO types, IPv6 extension headers.</summary>
    UnsupportedOffload,
    /// <summary>TCP data offset below 5 words (the L4 header the segmenter must copy into every segment).</summary>
    BadTransportHeader,
    /// <summary>A GSO packet that would split into more segments than the bound, or than the caller has room for.</summary>
    TooManySegments,

    // ---- what a peer may inject (PeerFilter) ----
    /// <summary>The inner destination is not in this node's subnet (not its pods, not its TUN address).</summary>
    InnerDestinationNotLocal,
    /// <summary>The inner source is neither the sending peer's PublicIP nor in a subnet routed to that peer (spoofed).</summary>
    InnerSourceNotPeer,
    /// <summary>An inner IPv6 packet: the overlay carries IPv4 only.</summary>
    InnerIpv6,
    /// <summary>An ARP request beyond the responder's rate limit, or one we do not answer (not from the peer's subnet).</summary>
    ArpRefused,
    // ---- inner checksums (Dataplane.Offload.TransportChecksum) ----
    /// <summary>
    /// The inner IPv4 header checksum or TCP/UDP checksum is wrong and the L4 field is not a partial pseudo-header
    /// sum either: corrupt, where we must decide (a super-packet we would otherwise describe as a GSO write).
    /// </summary>
    BadChecksum,
}

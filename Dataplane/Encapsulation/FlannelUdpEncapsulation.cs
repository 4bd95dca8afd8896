using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Forwarding;
using Dataplane.Packets;

namespace Dataplane.Encapsulation;

/// <summary>
/// flannel's udp backend wire format (reference/flannel.md §1): the UDP payload is the bare IPv4 packet. No
/// header, no VNI, no authentication. TTL is decremented on send and on receive with an RFC 1624 checksum patch,
/// as <c>tun_to_udp</c>/<c>udp_to_tun</c> in flannel's proxy_amd64.c do, so a cross-host pod→pod packet loses 4
/// from its TTL over udp (2 for the two kernel forwarding hops, 2 here).
/// </summary>
/// <remarks>
/// Stricter than flannel where flannel is sloppy, never where it would break interop with a real flannel peer:
/// <list type="bullet">
/// <item>we check version 4, IHL and Total Length (flannel checks only length ≥ 20); a real peer only sends
/// what its TUN gave it, which always passes;</item>
/// <item>a TTL of 0 is dropped (flannel's u8 decrement wraps it to 255 and forwards it);</item>
/// <item>a datagram larger than our TUN MTU is a counted drop (flannel's recv into a tun_mtu buffer silently
/// truncates it and the kernel then discards the damaged packet);</item>
/// <item>bytes after Total Length are trimmed rather than written to the TUN.</item>
/// </list>
/// </remarks>
public sealed class FlannelUdpEncapsulation : IEncapsulation
{
    /// <summary>flannel's udp backend port (<c>defaultPort = 8285</c>, udp_amd64.go).</summary>
    public const ushort FlannelDefaultPort = 8285;

    /// <summary>Outer IPv4 (20) + UDP (8): flannel's <c>encapOverhead = 28</c>.</summary>
    public const int WireOverhead = 28;

    /// <summary>Creates the format with the largest inner packet allowed (the TUN MTU: external MTU − 28).</summary>
    public FlannelUdpEncapsulation(int maxInnerLength = 65535 - WireOverhead)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInnerLength, Ipv4Header.MinimumLength);
        MaxInnerLength = maxInnerLength;
    }

    /// <summary>Largest inner packet sent or accepted: the TUN MTU.</summary>
    public int MaxInnerLength { get; }

    /// <summary>
    /// Largest inner packet <see cref="Decapsulate"/> accepts (default: <see cref="MaxInnerLength"/>). Raised up to 64 KiB
    /// where the TUN takes GSO writes, so that an inner super-packet from a tunnel-GSO peer (a kernel VXLAN device on a
    /// virtual underlay hands over 5-MSS TCP segments whole) reaches the pump, which writes it as one GSO packet or
    /// drops it as TooBig.
    /// </summary>
    public int MaxReceiveLength { get => _maxReceive ?? MaxInnerLength; init => _maxReceive = value; }

    private readonly int? _maxReceive;

    /// <inheritdoc/>
    public EncapsulationKind Kind => EncapsulationKind.FlannelUdp;

    /// <inheritdoc/>
    public int HeaderLength => 0;

    /// <inheritdoc/>
    public int Overhead => WireOverhead;

    /// <inheritdoc/>
    public ushort DefaultPort => FlannelDefaultPort;

    /// <inheritdoc/>
    public DropReason Encapsulate(PacketBuffer packet, in NextHop nextHop)
    {
        var reason = PrepareInner(packet, MaxInnerLength);
        if (reason != DropReason.None)
            return reason;
        packet.Peer = nextHop.Endpoint;
        packet.OuterTos = 0; // flannel's socket never sets IP_TOS
        return DropReason.None;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// An inner IPv6 packet from a peer is <see cref="DropReason.InnerIpv6"/>, the reason the VXLAN backend's peer check
    /// gives it (<c>PeerFilter.CheckInner</c>), so one counter means "a peer sent IPv6 into a v4-only overlay" whatever
    /// the backend, with or without <c>--accept-unknown-peers</c> (this format cannot carry IPv6 at all; flannel's
    /// <c>udp_to_tun</c> would write it to the TUN unchecked). The send side keeps <see cref="DropReason.BadIpVersion"/>:
    /// there it is our own TUN's IPv6 chatter, not a peer's doing.
    /// </remarks>
    public DropReason Decapsulate(PacketBuffer packet)
    {
        var data = packet.Data;
        if (data.Length >= 1 && data[0] >> 4 == 6)
            return DropReason.InnerIpv6;
        return PrepareInner(packet, MaxReceiveLength);
    }

    /// <inheritdoc/>
    public DropReason PrepareSuperPacket(Span<byte> inner, out byte outerTos)
    {
        outerTos = 0;
        // Only the header: a super-packet's Total Length is the whole 64 KiB, its segments' are checked by the splitter.
        if (!Ipv4Header.TryCreate(inner, out var ip, out var reason))
            return reason;
        return ip.TryDecrementTimeToLive() ? DropReason.None : DropReason.TtlExpired;
    }

    /// <inheritdoc/>
    public void WriteSegmentHeader(Span<byte> destination, in NextHop nextHop, int ipVersion)
    {
        // No header: the UDP payload is the bare IPv4 packet.
    }

    // Both directions do the same thing to the inner packet: validate, trim to Total Length, enforce the MTU,
    // decrement TTL.
    private static DropReason PrepareInner(PacketBuffer packet, int maxLength)
    {
        if (!Ipv4Header.TryCreate(packet.Data, out var ip, out var reason))
            return reason;
        int total = ip.TotalLength;
        if (total > maxLength)
            return DropReason.TooBig;
        if (!ip.TryDecrementTimeToLive())
            return DropReason.TtlExpired;
        if (total != packet.Length)
            packet.SetLength(total);
        return DropReason.None;
    }
}

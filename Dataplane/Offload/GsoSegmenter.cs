using System.Buffers.Binary;
using Dataplane.Buffers;
using Dataplane.Diagnostics;
using Dataplane.Packets;

namespace Dataplane.Offload;

/// <summary>
/// Userspace GSO for packets read from a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM|TSO4|TSO6|USO4|USO6):
/// splits a TCP or UDP super-packet into the segments the kernel's software GSO would have sent, and completes
/// the partial checksum of a single packet. The idea is wireguard-go's tun/offload_linux.go (gsoSplit,
/// gsoNoneChecksum); the per-field rules are the kernel's, cited where they are applied.
/// </summary>
/// <remarks>
/// <para>The split is two-part so the send path never copies payload: <see cref="WriteSegmentHeaders"/> writes a
/// segment's final IP + L4 headers into a small separate buffer, and the segment's payload is referenced in
/// place (<see cref="SegmentPlan.PayloadOffsetOf"/>, <see cref="SegmentPlan.PayloadLengthOf"/>), to become the
/// second iovec of the same datagram. <see cref="Split"/> is the copying convenience for tests and slow paths.</para>
/// <para>Nothing here allocates, and packet content never makes anything throw: bad input is a
/// <see cref="DropReason"/>. Exceptions are reserved for caller bugs (a destination too small for
/// <see cref="MaxHeaderLength"/>, a segment index outside the plan).</para>
/// </remarks>
public static class GsoSegmenter
{
    /// <summary>Longest header <see cref="WriteSegmentHeaders"/> writes: IPv4 with 40 bytes of options + TCP with 40.</summary>
    public const int MaxHeaderLength = 60 + 60;

    /// <summary>
    /// Most segments one super-packet may split into. 8192 × 8 covers 64 KiB at the smallest gso_size TCP can
    /// produce (include/net/tcp.h: TCP_MIN_GSO_SIZE = TCP_MIN_SND_MSS 48 − MAX_TCP_OPTION_SPACE 40), so no packet the
    /// kernel's own TCP makes is refused; local USO is bounded far lower (UDP_MAX_SEGMENTS). A header claiming more
    /// (gso_size 1 on a UDP packet, say) is refused as <see cref="DropReason.TooManySegments"/>.
    /// </summary>
    public const int MaxSegments = 8192;

    private const int TcpMinimumHeader = 20, UdpHeaderLength = 8;
    private const int TcpChecksumOffset = 16, UdpChecksumOffset = 6;
    private const byte TcpFin = 0x01, TcpPsh = 0x08, TcpCwr = 0x80;

    /// <summary>
    /// Validates a GSO super-packet against its virtio_net_hdr and plans its split.
    /// </summary>
    /// <param name="packet">The IP packet (v4 or v6) that followed the header in the TUN read.</param>
    /// <param name="hdr">The header read in front of it; its GSO type must not be <see cref="GsoType.None"/>.</param>
    /// <param name="plan">The split on success; default otherwise.</param>
    /// <returns><see cref="DropReason.None"/>, or why the packet must be dropped.</returns>
    /// <remarks>
    /// hdr_len is ignored: the header length is recomputed from the IP header and the L4 header at csum_start,
    /// as wireguard-go does, because the kernel fills hdr_len with skb_headlen, a linear-size hint
    /// (include/linux/virtio_net.h virtio_net_hdr_from_skb). A payload of at most gso_size is one segment here,
    /// with final checksums; the kernel would refuse to segment it (tcp_gso_segment and __udp_gso_segment return
    /// -EINVAL when len ≤ mss), but a TUN reader has no better thing to do with it than send it whole.
    /// </remarks>
    public static DropReason TryPlan(ReadOnlySpan<byte> packet, in VirtioNetHeader hdr, out SegmentPlan plan)
    {
        plan = default;
        bool tcp;
        switch (hdr.GsoType)
        {
            case GsoType.TcpV4:
            case GsoType.TcpV6:
                tcp = true;
                break;
            case GsoType.UdpL4:
                // The kernel sets GSO_ECN only from SKB_GSO_TCP_ECN; on a UDP header it is a lie.
                if (hdr.Ecn)
                    return DropReason.BadOffloadHeader;
                tcp = false;
                break;
            case GsoType.None:
                return DropReason.BadOffloadHeader;
            default:
                return DropReason.UnsupportedOffload;
        }

        // A GSO skb is always CHECKSUM_PARTIAL with its checksum start at the transport header (tcp_gso_segment
        // refuses anything else), so the kernel always sets NEEDS_CSUM on one.
        if (!hdr.NeedsChecksum || hdr.GsoSize == 0)
            return DropReason.BadOffloadHeader;

        var reason = ParseIp(packet, out bool ipv6, out int ipHeaderLength, out int totalLength, out byte protocol);
        if (reason != DropReason.None)
            return reason;

        if ((hdr.GsoType == GsoType.TcpV4 && ipv6) || (hdr.GsoType == GsoType.TcpV6 && !ipv6))
            return DropReason.BadOffloadHeader;
        byte expected = tcp ? IpProtocol.Tcp : IpProtocol.Udp;
        if (protocol != expected)
        {
            // IPv6 extension headers would put the L4 header past 40 bytes; we only segment L4 directly after
            // the fixed header, so an IPv6 packet naming another next header is unsupported, not malformed.
            return ipv6 && protocol != IpProtocol.Tcp && protocol != IpProtocol.Udp
                ? DropReason.UnsupportedOffload
                : DropReason.BadOffloadHeader;
        }
        if (hdr.CsumStart != ipHeaderLength || hdr.CsumOffset != (tcp ? TcpChecksumOffset : UdpChecksumOffset))
            return DropReason.BadOffloadHeader;

        int l4HeaderLength;
        if (tcp)
        {
            if (ipHeaderLength + TcpMinimumHeader > totalLength)
                return DropReason.Truncated;
            l4HeaderLength = (packet[ipHeaderLength + 12] >> 4) * 4;
            if (l4HeaderLength < TcpMinimumHeader)
                return DropReason.BadTransportHeader;
        }
        else
        {
            l4HeaderLength = UdpHeaderLength;
        }
        int headerLength = ipHeaderLength + l4HeaderLength;
        if (headerLength > totalLength)
            return DropReason.Truncated;

        int payloadLength = totalLength - headerLength;
        if (payloadLength == 0)
            return DropReason.BadOffloadHeader; // GSO with nothing to segment: the kernel never builds one.
        if ((payloadLength + hdr.GsoSize - 1) / hdr.GsoSize > MaxSegments)
            return DropReason.TooManySegments;

        var kind = (tcp, ipv6) switch
        {
            (true, false) => SegmentKind.TcpV4,
            (true, true) => SegmentKind.TcpV6,
            (false, false) => SegmentKind.UdpV4,
            _ => SegmentKind.UdpV6,
        };
        plan = new SegmentPlan(kind, ipHeaderLength, headerLength, payloadLength, hdr.GsoSize);
        return DropReason.None;
    }

    /// <summary>
    /// Writes segment <paramref name="index"/>'s complete IP + L4 headers, every field final, into
    /// <paramref name="destination"/> and returns their length (<see cref="SegmentPlan.HeaderLength"/>).
    /// </summary>
    /// <param name="packet">The same super-packet <paramref name="plan"/> was made from; only read.</param>
    /// <param name="plan">From <see cref="TryPlan"/>.</param>
    /// <param name="index">Segment number, <c>[0, SegmentCount)</c>.</param>
    /// <param name="destination">At least <see cref="SegmentPlan.HeaderLength"/> bytes (≤ <see cref="MaxHeaderLength"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">A caller bug: index outside the plan or destination too short.</exception>
    /// <remarks>
    /// The rules follow the kernel's software GSO. IPv4 (net/ipv4/af_inet.c inet_gso_segment): total length per
    /// segment, id = original + index (it increments unless SKB_GSO_TCP_FIXEDID, which virtio_net_hdr cannot carry,
    /// so a TUN read never has it), header checksum recomputed; options and every other field copied. IPv6
    /// (net/ipv6/ip6_offload.c ipv6_gso_segment): payload length per segment. TCP (net/ipv4/tcp_offload.c
    /// tcp_gso_segment): seq + index × gso_size, FIN and PSH kept only on the last segment, CWR only on the first
    /// (the kernel keeps it on all only for SKB_GSO_TCP_ACCECN, which virtio_net_hdr cannot carry either). UDP
    /// (net/ipv4/udp_offload.c __udp_gso_segment): length per segment, a computed checksum of 0 sent as 0xFFFF
    /// (CSUM_MANGLED_0). The L4 checksum is computed from scratch over the pseudo-header, the new L4 header and
    /// the segment's payload read in place from <paramref name="packet"/>; the super-packet's partial sum is not
    /// trusted.
    /// </remarks>
    public static int WriteSegmentHeaders(ReadOnlySpan<byte> packet, in SegmentPlan plan, int index, Span<byte> destination)
    {
        if ((uint)index >= (uint)plan.SegmentCount)
            throw new ArgumentOutOfRangeException(nameof(index));
        int headerLength = plan.HeaderLength;
        if (destination.Length < headerLength)
            throw new ArgumentOutOfRangeException(nameof(destination));

        int ipLength = plan.IpHeaderLength;
        int payloadLength = plan.PayloadLengthOf(index);
        int l4Length = headerLength - ipLength + payloadLength;
        var headers = destination[..headerLength];
        packet[..headerLength].CopyTo(headers);
        var ip = headers[..ipLength];
        var l4 = headers[ipLength..];
        ReadOnlySpan<byte> addresses;

        if (plan.IsIpv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)l4Length);
            addresses = ip.Slice(8, 32);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(headerLength + payloadLength));
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(id + index));
            ip[10] = 0;
            ip[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip));
            addresses = ip.Slice(12, 8);
        }

        var payload = packet.Slice(plan.PayloadOffsetOf(index), payloadLength);
        if (plan.IsTcp)
        {
            uint seq = BinaryPrimitives.ReadUInt32BigEndian(l4[4..]);
            BinaryPrimitives.WriteUInt32BigEndian(l4[4..], unchecked(seq + (uint)index * (uint)plan.SegmentSize));
            byte flags = l4[13];
            if (index != plan.SegmentCount - 1)
                flags &= unchecked((byte)~(TcpFin | TcpPsh));
            if (index != 0)
                flags &= unchecked((byte)~TcpCwr);
            l4[13] = flags;
            l4[TcpChecksumOffset] = 0;
            l4[TcpChecksumOffset + 1] = 0;
            ulong sum = Checksum.PseudoHeaderSum(addresses, IpProtocol.Tcp, (uint)l4Length);
            sum = Checksum.Sum(payload, Checksum.Sum(l4, sum));
            BinaryPrimitives.WriteUInt16BigEndian(l4[TcpChecksumOffset..], Checksum.Finish(sum));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4[4..], (ushort)l4Length);
            l4[UdpChecksumOffset] = 0;
            l4[UdpChecksumOffset + 1] = 0;
            ulong sum = Checksum.PseudoHeaderSum(addresses, IpProtocol.Udp, (uint)l4Length);
            sum = Checksum.Sum(payload, Checksum.Sum(l4, sum));
            ushort check = Checksum.Finish(sum);
            BinaryPrimitives.WriteUInt16BigEndian(l4[UdpChecksumOffset..], check == 0 ? (ushort)0xFFFF : check);
        }
        return headerLength;
    }

    /// <summary>
    /// Completes the partial L4 checksum of a non-GSO packet read with NEEDS_CSUM, in place: the field at
    /// csum_start + csum_offset holds the folded pseudo-header sum, and the checksum is the complement of the
    /// fold of everything from csum_start to the end of the packet (net/core/dev.c skb_checksum_help).
    /// </summary>
    /// <param name="packet">The IP packet that followed the header (its whole length is summed).</param>
    /// <param name="hdr">Its header; without NEEDS_CSUM there is nothing to do and the packet is untouched.</param>
    /// <returns><see cref="DropReason.None"/>, or why the packet must be dropped (GSO type set, offsets outside the packet).</returns>
    /// <remarks>
    /// The bounds are the kernel's own (skb_partial_csum_set, skb_checksum_help): csum_start inside the packet and
    /// the 2-byte field inside it too. A result of 0 is written as 0xFFFF as skb_checksum_help does (CSUM_MANGLED_0),
    /// which UDP requires and TCP treats as the same value.
    /// </remarks>
    public static DropReason CompleteChecksum(Span<byte> packet, in VirtioNetHeader hdr)
    {
        if (hdr.GsoType != GsoType.None || hdr.Ecn)
            return DropReason.BadOffloadHeader;
        if (!hdr.NeedsChecksum)
            return DropReason.None;
        int start = hdr.CsumStart;
        int field = start + hdr.CsumOffset;
        if (start >= packet.Length || field + 2 > packet.Length)
            return DropReason.BadOffloadHeader;
        ushort check = Checksum.Finish(Checksum.Sum(packet[start..]));
        BinaryPrimitives.WriteUInt16BigEndian(packet[field..], check == 0 ? (ushort)0xFFFF : check);
        return DropReason.None;
    }

    /// <summary>
    /// Turns one TUN read into standalone packets with final headers and checksums, copied into
    /// <paramref name="destinations"/> (each reset to its default headroom first): the segments of a GSO packet,
    /// or the single packet of a non-GSO read with its checksum completed. Tests and slow paths only: the fast
    /// path uses <see cref="TryPlan"/> and <see cref="WriteSegmentHeaders"/> and never copies payload.
    /// </summary>
    /// <returns>The number of buffers filled; 0 with <paramref name="reason"/> set when the packet is dropped,
    /// including <see cref="DropReason.TooManySegments"/> for too few destinations and
    /// <see cref="DropReason.TooBig"/> for a segment that does not fit its buffer.</returns>
    public static int Split(ReadOnlySpan<byte> packet, in VirtioNetHeader hdr, Span<PacketBuffer> destinations, out DropReason reason)
    {
        if (hdr.GsoType == GsoType.None && !hdr.Ecn)
        {
            if (destinations.Length < 1)
            {
                reason = DropReason.TooManySegments;
                return 0;
            }
            var single = destinations[0];
            single.Reset();
            if (packet.Length > single.Writable.Length)
            {
                reason = DropReason.TooBig;
                return 0;
            }
            single.Load(packet);
            reason = CompleteChecksum(single.Data, hdr);
            return reason == DropReason.None ? 1 : 0;
        }

        reason = TryPlan(packet, hdr, out var plan);
        if (reason != DropReason.None)
            return 0;
        if (plan.SegmentCount > destinations.Length)
        {
            reason = DropReason.TooManySegments;
            return 0;
        }
        for (int i = 0; i < plan.SegmentCount; i++)
        {
            var buffer = destinations[i];
            buffer.Reset();
            int length = plan.SegmentLengthOf(i);
            var writable = buffer.Writable;
            if (length > writable.Length)
            {
                reason = DropReason.TooBig;
                return 0;
            }
            int written = WriteSegmentHeaders(packet, plan, i, writable);
            packet.Slice(plan.PayloadOffsetOf(i), plan.PayloadLengthOf(i)).CopyTo(writable[written..]);
            buffer.SetLength(length);
        }
        return plan.SegmentCount;
    }

    /// <summary>
    /// The IP checks every offload path needs: version, header length, and a total length that is at least the
    /// header and at most the bytes read (trailing bytes are ignored, as <see cref="Ipv4Header.TryCreate"/> does).
    /// Fragments are refused: a GSO or partially-checksummed fragment cannot exist.
    /// </summary>
    internal static DropReason ParseIp(ReadOnlySpan<byte> packet, out bool ipv6, out int headerLength, out int totalLength, out byte protocol)
    {
        ipv6 = false;
        headerLength = totalLength = 0;
        protocol = 0;
        if (packet.IsEmpty)
            return DropReason.Truncated;
        switch (packet[0] >> 4)
        {
            case 4:
                if (packet.Length < Ipv4Header.MinimumLength)
                    return DropReason.Truncated;
                headerLength = (packet[0] & 0xF) * 4;
                if (headerLength < Ipv4Header.MinimumLength || headerLength > packet.Length)
                    return DropReason.BadIpHeaderLength;
                totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
                if (totalLength < headerLength || totalLength > packet.Length)
                    return DropReason.BadTotalLength;
                // MF set or a non-zero fragment offset (the DF and reserved bits are left alone).
                if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0)
                    return DropReason.BadOffloadHeader;
                protocol = packet[9];
                return DropReason.None;
            case 6:
                if (packet.Length < Ipv6Header.Length)
                    return DropReason.Truncated;
                ipv6 = true;
                headerLength = Ipv6Header.Length;
                int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
                // 0 would be a jumbogram (RFC 2675), which needs a hop-by-hop header we do not accept anyway.
                if (payloadLength == 0 || Ipv6Header.Length + payloadLength > packet.Length)
                    return DropReason.BadTotalLength;
                totalLength = Ipv6Header.Length + payloadLength;
                protocol = packet[6];
                return DropReason.None;
            default:
                return DropReason.BadIpVersion;
        }
    }
}
